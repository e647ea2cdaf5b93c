"""RAdam (Liu et al., 2020): Adam with the variance of the adaptive rate rectified.

    m, v as in Adam;  rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
    p = p - lr * m / (1 - beta1^t) * (r_t * sqrt(1 - beta2^t) / (sqrt(v) + eps)  if rho_t > 5
                                      else 1)

The branch on rho_t is a `where` over the step tensor (PyTorch's `capturable` form), so
the same compiled plan serves the early steps and the later ones. `lr`, `betas`, `eps` and
`weight_decay` are read at every call of a compiled step (a weight decay switched to or
from 0, or `decoupled_weight_decay` toggled, retraces).
"""

from __future__ import annotations

from ..creation import zeros, zeros_like
from ..ir import tracing
from ..ops.elementwise import clamp, where
from ..tensor import Tensor
from .adam import _check
from .optimizer import Optimizer, hyper


class RAdam(Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False):
        _check(lr, eps, betas, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {"step": zeros((), device=p._backend), "exp_avg": zeros_like(p),
                "exp_avg_sq": zeros_like(p)}

    dynamic_hyperparameters = ("lr", "betas", "eps", "weight_decay")

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        lr = tracing.dynamic_scalar(group, "lr")
        beta1 = tracing.dynamic_scalar(group, "betas", 0)  # float64, like the step count
        beta2 = tracing.dynamic_scalar(group, "betas", 1)
        rho_inf = tracing.dynamic_scalar(group, "rho_inf", fn=lambda g: 2 / (1 - g["betas"][1]) - 1)
        step, exp_avg, exp_avg_sq = state["step"], state["exp_avg"], state["exp_avg_sq"]
        step.add_(1)
        t = step.double()
        if group["weight_decay"] != 0 and self._decoupled(group):
            p.mul_(hyper(group, "1-lr*weight_decay", p,
                         fn=lambda g: 1 - g["lr"] * g["weight_decay"]))
        exp_avg.lerp_(grad, hyper(group, "1-beta1", p, fn=lambda g: 1 - g["betas"][0]))
        exp_avg_sq.mul_(hyper(group, "betas", p, index=1)).addcmul_(
            grad, grad, value=hyper(group, "1-beta2", p, fn=lambda g: 1 - g["betas"][1]))
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        rho_t = rho_inf - 2 * t * beta2 ** t / bias_correction2
        # clamped so that the branch not taken computes no NaN (and warns about none)
        rect = clamp((rho_t - 4) * (rho_t - 2) * rho_inf
                     / ((rho_inf - 4) * (rho_inf - 2) * rho_t), min=0.0).sqrt()
        adaptive = bias_correction2.sqrt() / (exp_avg_sq.sqrt() + hyper(group, "eps", p))
        scale = where(rho_t > 5.0, rect * adaptive, 1.0)
        p.sub_(exp_avg / bias_correction1 * lr * scale)
