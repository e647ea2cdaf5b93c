"""Adadelta (Zeiler, 2012), PyTorch's formula.

    v = rho * v + (1 - rho) * g^2
    delta = sqrt(u + eps) / sqrt(v + eps) * g
    u = rho * u + (1 - rho) * delta^2
    p = p - lr * delta

`lr`, `rho`, `eps` and `weight_decay` are read at every call of a compiled step.
"""

from __future__ import annotations

from ..creation import zeros, zeros_like
from ..errors import ArgumentError
from ..ir import tracing
from ..source import user_source
from ..tensor import Tensor
from .optimizer import Optimizer, check_nonnegative, hyper


class Adadelta(Optimizer):
    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        check_nonnegative(("learning rate", lr), ("epsilon value", eps),
                          ("weight_decay value", weight_decay))
        if not 0.0 <= rho <= 1.0:
            raise ArgumentError(f"Invalid rho value: {rho}", source=user_source())
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {"step": zeros((), device=p._backend), "square_avg": zeros_like(p),
                "acc_delta": zeros_like(p)}

    dynamic_hyperparameters = ("lr", "rho", "eps", "weight_decay")

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        lr = tracing.dynamic_scalar(group, "lr")
        rho, eps = hyper(group, "rho", p), hyper(group, "eps", p)
        one_minus_rho = hyper(group, "1-rho", p, fn=lambda g: 1 - g["rho"])
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        state["step"].add_(1)
        square_avg.mul_(rho).addcmul_(grad, grad, value=one_minus_rho)
        delta = (acc_delta + eps).sqrt() / (square_avg + eps).sqrt() * grad
        acc_delta.mul_(rho).addcmul_(delta, delta, value=one_minus_rho)
        p.sub_(delta * lr)
