"""NAdam (Dozat, 2016): Adam with Nesterov momentum, PyTorch's formula with momentum decay.

    mu_t = beta1 * (1 - 0.5 * 0.96^(t * psi))         (psi: momentum_decay)
    m, v as in Adam;  prod_t = mu_1 * ... * mu_t        (state `mu_product`)
    p = p - lr * (1 - mu_t) / (1 - prod_t) * g / d - lr * mu_{t+1} / (1 - prod_t * mu_{t+1}) * m / d
    with d = sqrt(v / (1 - beta2^t)) + eps

`mu_product` and the step count are state tensors, so a compiled step needs no Python
number from them (PyTorch's `capturable` form). `lr`, `betas`, `eps`, `weight_decay` and
`momentum_decay` are read at every call of a compiled step (a weight decay switched to or
from 0, or `decoupled_weight_decay` toggled, retraces).
"""

from __future__ import annotations

from ..creation import ones, zeros, zeros_like
from ..ir import tracing
from ..tensor import Tensor
from .adam import _check
from .optimizer import Optimizer, check_nonnegative, hyper


class NAdam(Optimizer):
    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False):
        _check(lr, eps, betas, weight_decay)
        check_nonnegative(("momentum_decay value", momentum_decay))
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {"step": zeros((), device=p._backend),
                "mu_product": ones((), device=p._backend),
                "exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}

    dynamic_hyperparameters = ("lr", "betas", "eps", "weight_decay", "momentum_decay")

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        lr = tracing.dynamic_scalar(group, "lr")
        beta1 = tracing.dynamic_scalar(group, "betas", 0)  # float64, like the step count
        beta2 = tracing.dynamic_scalar(group, "betas", 1)
        psi = tracing.dynamic_scalar(group, "momentum_decay")
        step, mu_product = state["step"], state["mu_product"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        step.add_(1)
        t = step.double()
        if group["weight_decay"] != 0 and self._decoupled(group):
            p.mul_(hyper(group, "1-lr*weight_decay", p,
                         fn=lambda g: 1 - g["lr"] * g["weight_decay"]))
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        mu_product.mul_(mu)
        exp_avg.lerp_(grad, hyper(group, "1-beta1", p, fn=lambda g: 1 - g["betas"][0]))
        exp_avg_sq.mul_(hyper(group, "betas", p, index=1)).addcmul_(
            grad, grad, value=hyper(group, "1-beta2", p, fn=lambda g: 1 - g["betas"][1]))
        denom = (exp_avg_sq / (1 - beta2 ** t)).sqrt() + hyper(group, "eps", p)
        prod = mu_product.double()
        p.sub_(grad / denom * (lr * (1.0 - mu) / (1.0 - prod)))
        p.sub_(exp_avg / denom * (lr * mu_next / (1.0 - prod * mu_next)))
