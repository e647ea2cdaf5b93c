"""Adagrad (Duchi et al., 2011), PyTorch's formula with learning-rate decay.

    sum = sum + g * g
    p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)
"""

from __future__ import annotations

from ..creation import full_like, zeros
from ..ir import tracing
from ..tensor import Tensor
from .optimizer import Optimizer, check_nonnegative, hyper


class Adagrad(Optimizer):
    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False):
        check_nonnegative(("learning rate", lr), ("lr_decay value", lr_decay),
                          ("weight_decay value", weight_decay), ("epsilon value", eps),
                          ("initial_accumulator_value", initial_accumulator_value))
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {"step": zeros((), device=p._backend),
                "sum": full_like(p, group["initial_accumulator_value"])}

    # (initial_accumulator_value: read only when the state is made)
    dynamic_hyperparameters = ("lr", "lr_decay", "eps", "weight_decay",
                               "initial_accumulator_value")

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        lr = tracing.dynamic_scalar(group, "lr")
        step = state["step"]
        step.add_(1)
        clr = lr
        if group["lr_decay"] != 0:
            lr_decay = tracing.dynamic_scalar(group, "lr_decay")
            clr = lr / ((step.double() - 1) * lr_decay + 1)
        state["sum"].add_(grad * grad)
        std = state["sum"].sqrt() + hyper(group, "eps", p)
        p.sub_(grad / std * clr)
