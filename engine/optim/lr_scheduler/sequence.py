"""Schedulers made of other schedulers: one after another (SequentialLR) or all at once
(ChainedScheduler)."""

from __future__ import annotations

import bisect

from ...errors import ArgumentError
from ...source import user_source
from ..optimizer import Optimizer
from .base import LRScheduler


class _Composite(LRScheduler):
    """A scheduler of schedulers: its state_dict holds its own state and each scheduler's
    (never the schedulers themselves: loaded into a new one, they would drive the old
    optimizer)."""

    _schedulers: list

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        for scheduler, sub in zip(self._schedulers, state.pop("_schedulers")):
            scheduler.load_state_dict(sub)
        self.__dict__.update(state)


class SequentialLR(_Composite):
    """Run `schedulers` one after another, switching at the epochs in `milestones`."""

    def __init__(self, optimizer: Optimizer, schedulers: list, milestones: list,
                 last_epoch: int = -1):
        if len(milestones) != len(schedulers) - 1:
            raise ArgumentError(f"Sequential Schedulers expects number of schedulers provided to "
                                f"be one more than the number of milestone points, but got "
                                f"{len(schedulers)} schedulers and {len(milestones)} milestones",
                                source=user_source())
        if any(s.optimizer is not optimizer for s in schedulers):
            raise ArgumentError("Sequential Schedulers expects all schedulers to belong to the "
                                "same optimizer", source=user_source())
        self.optimizer, self._schedulers = optimizer, list(schedulers)
        self._milestones, self.last_epoch = list(milestones), last_epoch + 1
        for group in optimizer.param_groups:  # undo what the schedulers' creation did
            group["lr"] = group["initial_lr"]
        for s in self._schedulers:
            s.last_epoch -= 1
        self._schedulers[0].step()
        self._last_lr = self._schedulers[0].get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler.step(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()



class ChainedScheduler(_Composite):
    """Step every scheduler in `schedulers` at each step: their changes compose."""

    def __init__(self, schedulers: list, optimizer: Optimizer | None = None):
        if not schedulers:
            raise ArgumentError("ChainedScheduler expects at least one scheduler to be "
                                "chained, but got no scheduler.", source=user_source())
        optimizer = optimizer or schedulers[0].optimizer
        for k, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler):
                raise ArgumentError(f"ChainedScheduler: the scheduler at index {k} is a "
                                    f"{type(s).__name__} (ReduceLROnPlateau needs a metric "
                                    "to step)", source=user_source())
            if s.optimizer is not optimizer:
                raise ArgumentError("ChainedScheduler expects all schedulers to belong to the "
                                    "same optimizer", source=user_source())
        self._schedulers, self.optimizer = list(schedulers), optimizer
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self) -> None:
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
