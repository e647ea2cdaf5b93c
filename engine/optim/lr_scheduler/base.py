"""The scheduler base class: `step()` once per epoch sets `group["lr"]` from `get_lr()`."""

from __future__ import annotations

from ...errors import ArgumentTypeError
from ...source import user_source
from ..optimizer import Optimizer


class LRScheduler:
    """Base class: `step()` once per epoch (after `optimizer.step()`), `get_last_lr()`."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(f"{type(optimizer).__name__} is not an Optimizer",
                                    source=user_source())
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        elif any("initial_lr" not in g for g in optimizer.param_groups):
            raise KeyError("param 'initial_lr' is not specified in param_groups when "
                           "resuming an optimizer (last_epoch != -1)")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        # the constructor's own step: a recurrence leaves the lr as it is (PyTorch 2.13's
        # `_is_initial`), so resuming with last_epoch=k does not apply epoch k+1 twice
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch; with `epoch`, jump there (PyTorch's deprecated form, used by
        SequentialLR: the closed form where the scheduler has one)."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_closed_form", None)
            lrs = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)

    def _lrs(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]


def per_group(name: str, optimizer: Optimizer, value) -> list:
    """One value per param group: a list or tuple as given, or one value for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ArgumentTypeError(f"expected {len(optimizer.param_groups)} values for {name}, "
                                    f"got {len(value)}", source=user_source())
        return list(value)
    return [value] * len(optimizer.param_groups)
