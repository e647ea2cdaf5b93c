"""Averaged SGD (Polyak & Juditsky, 1992), PyTorch's formula.

    p = p * (1 - lambd * eta) - eta * g
    ax = p                         while mu == 1 (before t0 steps)
    ax = ax + (p - ax) * mu        afterwards
    eta = lr / (1 + lambd * lr * t)^alpha;   mu = 1 / max(1, t - t0)

`eta` and `mu` are state tensors updated by the step itself, as in PyTorch, so a
compiled step reads no Python number from them; `lr`, `lambd`, `alpha`, `t0` and
`weight_decay` are read at every call (a weight decay switched to or from 0 retraces).
"""

from __future__ import annotations

from ..creation import full, ones, zeros, zeros_like
from ..ir import tracing
from ..ops.elementwise import maximum, where
from ..tensor import Tensor
from .optimizer import Optimizer, check_nonnegative, hyper


class ASGD(Optimizer):
    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0.0, *, maximize: bool = False):
        check_nonnegative(("learning rate", lr), ("weight_decay value", weight_decay))
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, maximize=maximize))

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {"step": zeros((), device=p._backend),
                "eta": full((), float(group["lr"]), p.dtype, False, p._backend),
                "mu": ones((), dtype=p.dtype, device=p._backend), "ax": zeros_like(p)}

    dynamic_hyperparameters = ("lr", "lambd", "alpha", "t0", "weight_decay")

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        lr = tracing.dynamic_scalar(group, "lr")
        # float64 like the step count (t0 may be an int: any number is read the same)
        lambd_lr = tracing.dynamic_scalar(group, "lambd*lr", fn=lambda g: g["lambd"] * g["lr"])
        alpha, t0 = tracing.dynamic_scalar(group, "alpha"), tracing.dynamic_scalar(group, "t0")
        step, eta, mu, ax = state["step"], state["eta"], state["mu"], state["ax"]
        step.add_(1)
        p.mul_(1 - hyper(group, "lambd", p) * eta)
        p.sub_(grad * eta)
        ax.copy_(where(mu == 1, p, ax + (p - ax) * mu))
        t = step.double()
        eta.copy_(lr / (1 + lambd_lr * t) ** alpha)
        mu.copy_(1 / maximum(t - t0, 1.0))
