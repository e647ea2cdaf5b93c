"""RAdam (Liu et al., 2020): Adam with the variance of the adaptive rate rectified.

    m, v as in Adam;  rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
    p = p - lr * m / (1 - beta1^t) * (r_t * sqrt(1 - beta2^t) / (sqrt(v) + eps)  if rho_t > 5
                                      else 1)

The branch on rho_t is a `where` over the step tensor (PyTorch's `capturable` form), so
the same compiled plan serves the early steps and the later ones.
"""

from __future__ import annotations

from ..creation import zeros, zeros_like
from ..ir import tracing
from ..ops.elementwise import clamp, where
from ..tensor import Tensor
from .adam import _check
from .optimizer import Optimizer


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

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        lr = tracing.dynamic_scalar(group, "lr")
        beta1, beta2 = group["betas"]
        wd = group["weight_decay"]
        step, exp_avg, exp_avg_sq = state["step"], state["exp_avg"], state["exp_avg_sq"]
        step.add_(1)
        t = step.double()
        if wd != 0 and self._decoupled(group):
            p.mul_(1 - lr * wd)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2 ** t / bias_correction2
        # clamped so that the branch not taken computes no NaN (and warns about none)
        rect = clamp((rho_t - 4) * (rho_t - 2) * rho_inf
                     / ((rho_inf - 4) * (rho_inf - 2) * rho_t), min=0.0).sqrt()
        adaptive = bias_correction2.sqrt() / (exp_avg_sq.sqrt() + group["eps"])
        scale = where(rho_t > 5.0, rect * adaptive, 1.0)
        p.sub_(exp_avg / bias_correction1 * lr * scale)
