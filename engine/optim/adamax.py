"""Adamax (Kingma & Ba, 2015, section 7.1): Adam with the infinity norm, PyTorch's formula.

    m = beta1 * m + (1 - beta1) * g
    u = max(beta2 * u, |g| + eps)
    p = p - lr / (1 - beta1^t) * m / u

`lr`, `betas`, `eps` and `weight_decay` are read at every call of a compiled step.
"""

from __future__ import annotations

from ..creation import zeros, zeros_like
from ..ir import tracing
from ..ops.elementwise import maximum
from ..tensor import Tensor
from .adam import _check
from .optimizer import Optimizer, hyper


class Adamax(Optimizer):
    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, maximize: bool = False):
        _check(lr, eps, betas, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, maximize=maximize))

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {"step": zeros((), device=p._backend), "exp_avg": zeros_like(p),
                "exp_inf": zeros_like(p)}

    dynamic_hyperparameters = ("lr", "betas", "eps", "weight_decay")

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        lr = tracing.dynamic_scalar(group, "lr")
        beta1 = tracing.dynamic_scalar(group, "betas", 0)  # float64: beta1 ** t
        step, exp_avg, exp_inf = state["step"], state["exp_avg"], state["exp_inf"]
        step.add_(1)
        exp_avg.lerp_(grad, hyper(group, "1-beta1", p, fn=lambda g: 1 - g["betas"][0]))
        exp_inf.copy_(maximum(exp_inf * hyper(group, "betas", p, index=1),
                              grad.abs() + hyper(group, "eps", p)))
        bias_correction = 1 - beta1 ** step.double()
        p.sub_(exp_avg / exp_inf * (lr / bias_correction))
