"""Learning-rate schedulers: change `group["lr"]` between steps (PyTorch's recurrences).

OneCycleLR also cycles momentum (SGD's `momentum`, Adam's first beta) the opposite way.

They write plain Python numbers into the optimizer's param groups; a compiled step
reads `lr` afresh at every call (`tracing.dynamic_scalar`), so scheduling needs no
retrace.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable

from ..errors import ArgumentError, ArgumentTypeError
from ..source import user_source
from .optimizer import Optimizer


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


class StepLR(LRScheduler):
    """Multiply the learning rate by `gamma` every `step_size` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _closed_form(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """eta_min + (base_lr - eta_min) (1 + cos(pi t / T_max)) / 2, as a recurrence.

    The recurrence (PyTorch's) follows the closed form while nothing else changes the
    learning rate, and composes with other changes when something does.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if t == 0 or self._is_initial:
            return self._lrs()
        if self._step_count == 1 and t > 0:
            return [lo + (base - lo) * (1 + math.cos(t * math.pi / T)) / 2
                    for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:
            return [lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(self._lrs(), self.base_lrs)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (lr - lo) + lo for lr in self._lrs()]

    def _closed_form(self) -> list[float]:
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        return [lo + (base - lo) * (1 + math.cos(math.pi * t / T)) / 2 for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by `gamma` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self._is_initial:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _closed_form(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by `gamma` at each epoch listed in `milestones`."""

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.milestones, self.gamma = Counter(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._lrs()]

    def _closed_form(self) -> list[float]:
        passed = sum(n for m, n in self.milestones.items() if m <= self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch), one function or one per param group."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable | list, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) \
            else [lr_lambda] * n
        if len(self.lr_lambdas) != n:
            raise ArgumentError(f"Expected {n} lr_lambdas, but got {len(self.lr_lambdas)}",
                                source=user_source())
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}


class LinearLR(LRScheduler):
    """Scale the learning rate linearly from start_factor to end_factor over total_iters."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ArgumentError("Starting multiplicative factor expected to be greater than 0 and "
                                "less or equal to 1; ending factor between 0 and 1.",
                                source=user_source())
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, a, b = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return [lr * a for lr in self._lrs()]
        if t > self.total_iters or self._is_initial:
            return self._lrs()
        ratio = 1.0 + (b - a) / (self.total_iters * a + (t - 1) * (b - a))
        return [lr * ratio for lr in self._lrs()]

    def _closed_form(self) -> list[float]:
        a, b = self.start_factor, self.end_factor
        frac = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (a + (b - a) * frac) for base in self.base_lrs]


class SequentialLR(LRScheduler):
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

    def state_dict(self) -> dict:
        """Its own state and each scheduler's (never the schedulers themselves: loaded into
        a new SequentialLR, they would drive the old optimizer)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        for scheduler, sub in zip(self._schedulers, state.pop("_schedulers")):
            scheduler.load_state_dict(sub)
        self.__dict__.update(state)


class ReduceLROnPlateau:
    """Divide the learning rate by 1/`factor` when a metric stops improving for
    `patience` epochs (`step(metric)` once per epoch, with a Python number)."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | list = 0, eps: float = 1e-8):
        if factor >= 1.0:
            raise ArgumentError("Factor should be < 1.0.", source=user_source())
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ArgumentError(f"mode {mode!r} or threshold_mode {threshold_mode!r} is unknown",
                                source=user_source())
        n = len(optimizer.param_groups)
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.last_epoch = self.cooldown_counter = self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _is_better(self, a: float) -> bool:
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (self.best * (1 - self.threshold) if rel else self.best - self.threshold)
        return a > (self.best * (1 + self.threshold) if rel else self.best + self.threshold)

    def step(self, metrics) -> None:
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, low in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(float(group["lr"]) * self.factor, low)
                if float(group["lr"]) - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return self._last_lr

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)


# ---------------------------------------------------------------------- 1cycle

def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


class OneCycleLR(LRScheduler):
    """PyTorch's OneCycleLR (same arguments and defaults)."""

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ArgumentError("You must define either total_steps OR (epochs AND "
                                    "steps_per_epoch)", source=user_source())
            total_steps = epochs * steps_per_epoch
        if total_steps <= 0 or not 0 <= pct_start <= 1 or anneal_strategy not in ("cos",
                                                                                   "linear"):
            raise ArgumentError(f"OneCycleLR: bad total_steps {total_steps}, pct_start "
                                f"{pct_start} or anneal_strategy {anneal_strategy!r}",
                                source=user_source())
        self.total_steps, self.anneal_strategy = total_steps, anneal_strategy
        self._phases = self._make_phases(total_steps, pct_start, three_phase)
        groups = optimizer.param_groups
        for group, top in zip(groups, self._per_group(max_lr, groups)):
            if last_epoch == -1:
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self._init_momentum(optimizer, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _per_group(value, groups) -> list:
        if isinstance(value, (list, tuple)):
            if len(value) != len(groups):
                raise ArgumentError(f"expected {len(groups)} values, got {len(value)}",
                                    source=user_source())
            return list(value)
        return [value] * len(groups)

    @staticmethod
    def _make_phases(total: int, pct: float, three_phase: bool) -> list[dict]:
        def phase(end, lr0, lr1, m0, m1):
            return {"end_step": end, "start_lr": lr0, "end_lr": lr1, "start_momentum": m0,
                    "end_momentum": m1}
        if three_phase:
            return [phase(float(pct * total) - 1, "initial_lr", "max_lr", "max_momentum",
                          "base_momentum"),
                    phase(float(2 * pct * total) - 2, "max_lr", "initial_lr", "base_momentum",
                          "max_momentum"),
                    phase(total - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        return [phase(float(pct * total) - 1, "initial_lr", "max_lr", "max_momentum",
                      "base_momentum"),
                phase(total - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]

    def _init_momentum(self, optimizer, base_momentum, max_momentum, last_epoch) -> None:
        defaults = optimizer.defaults
        if "momentum" not in defaults and "betas" not in defaults:
            raise ArgumentError("optimizer must support momentum or beta1 with `cycle_momentum` "
                                "option enabled", source=user_source())
        self.use_beta1 = "betas" in defaults
        groups = optimizer.param_groups
        for group, lo, hi in zip(groups, self._per_group(base_momentum, groups),
                                 self._per_group(max_momentum, groups)):
            if last_epoch == -1:
                self._set_momentum(group, hi)
                group["max_momentum"], group["base_momentum"] = hi, lo

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ArgumentError(f"Tried to step {step} times. The specified number of total "
                                f"steps is {self.total_steps}", source=user_source())
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._phases):
                end = phase["end_step"]
                if step <= end or i == len(self._phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(_anneal(self.anneal_strategy, group[phase["start_lr"]],
                                       group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, _anneal(
                            self.anneal_strategy, group[phase["start_momentum"]],
                            group[phase["end_momentum"]], pct))
                    break
                start = end
        return lrs
