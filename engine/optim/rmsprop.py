"""RMSprop (Hinton, 2012), PyTorch's variant with momentum and the centered form.

    v = alpha * v + (1 - alpha) * g * g
    avg = sqrt(v - gavg^2) + eps   (centered, gavg = running mean of g), else sqrt(v) + eps
    buf = momentum * buf + g / avg;  p = p - lr * buf    (momentum > 0)
    p = p - lr * g / avg                                 (otherwise)
"""

from __future__ import annotations

from ..creation import zeros, zeros_like
from ..ir import tracing
from ..tensor import Tensor
from .optimizer import Optimizer, check_nonnegative, hyper


class RMSprop(Optimizer):
    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        check_nonnegative(("learning rate", lr), ("epsilon value", eps),
                          ("momentum value", momentum), ("weight_decay value", weight_decay),
                          ("alpha value", alpha))
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _init_state(self, p: Tensor, group: dict) -> dict:
        state = {"step": zeros((), device=p._backend), "square_avg": zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = zeros_like(p)
        return state

    dynamic_hyperparameters = ("lr", "alpha", "eps", "weight_decay", "momentum")

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        lr = tracing.dynamic_scalar(group, "lr")
        eps = hyper(group, "eps", p)
        one_minus_alpha = hyper(group, "1-alpha", p, fn=lambda g: 1 - g["alpha"])
        state["step"].add_(1)
        square_avg = state["square_avg"]
        square_avg.mul_(hyper(group, "alpha", p)).addcmul_(grad, grad, value=one_minus_alpha)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg.lerp_(grad, one_minus_alpha)
            avg = (square_avg - grad_avg * grad_avg).sqrt() + eps
        else:
            avg = square_avg.sqrt() + eps
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf.mul_(hyper(group, "momentum", p)).add_(grad / avg)
            p.sub_(buf * lr)
        else:
            p.sub_(grad / avg * lr)
