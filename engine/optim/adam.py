"""Adam and AdamW (Kingma & Ba, 2015; Loshchilov & Hutter, 2019), PyTorch's formulas.

    m = beta1 * m + (1 - beta1) * g          (as m.lerp_(g, 1 - beta1))
    v = beta2 * v + (1 - beta2) * g * g
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

The bias corrections are computed from the state's `step` tensor in float64 (PyTorch
computes them in Python floats), so the compiled step needs no Python number from it.
AdamW decays the weights directly (p *= 1 - lr * weight_decay) instead of adding the
decay to the gradient.
"""

from __future__ import annotations

from ..creation import zeros, zeros_like
from ..errors import ArgumentError
from ..ir import tracing
from ..ops.elementwise import maximum
from ..source import user_source
from ..tensor import Tensor
from .optimizer import Optimizer, check_nonnegative, hyper


def _check(lr, eps, betas, weight_decay):
    check_nonnegative(("learning rate", lr), ("epsilon value", eps))
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ArgumentError(f"Invalid beta parameter at index {i}: {b}", source=user_source())
    check_nonnegative(("weight_decay value", weight_decay))


class Adam(Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: bool | None = None):
        _check(lr, eps, betas, weight_decay)
        if decoupled_weight_decay is not None:  # Adam(decoupled_weight_decay=True) is AdamW
            self.decoupled_weight_decay = bool(decoupled_weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _init_state(self, p: Tensor, group: dict) -> dict:
        state = {"step": zeros((), device=p._backend), "exp_avg": zeros_like(p),
                 "exp_avg_sq": zeros_like(p)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_like(p)
        return state

    dynamic_hyperparameters = ("lr", "betas", "eps", "weight_decay")

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        lr = tracing.dynamic_scalar(group, "lr")
        beta1 = tracing.dynamic_scalar(group, "betas", 0)  # float64: beta1 ** t
        beta2 = hyper(group, "betas", p, index=1)
        step, exp_avg, exp_avg_sq = state["step"], state["exp_avg"], state["exp_avg_sq"]
        step.add_(1)
        if group["weight_decay"] != 0 and self.decoupled_weight_decay:  # (L2: in `step`)
            p.mul_(hyper(group, "1-lr*weight_decay", p,
                         fn=lambda g: 1 - g["lr"] * g["weight_decay"]))
        exp_avg.lerp_(grad, hyper(group, "1-beta1", p, fn=lambda g: 1 - g["betas"][0]))
        exp_avg_sq.mul_(beta2).addcmul_(
            grad, grad, value=hyper(group, "1-beta2", p, fn=lambda g: 1 - g["betas"][1]))
        t = step.double()
        bias_correction1 = 1 - beta1 ** t
        bias_correction2_sqrt = (1 - tracing.dynamic_scalar(group, "betas", 1) ** t).sqrt()
        second = exp_avg_sq
        if group["amsgrad"]:
            second = state["max_exp_avg_sq"]
            second.copy_(maximum(second, exp_avg_sq))
        denom = second.sqrt() / bias_correction2_sqrt + hyper(group, "eps", p)
        p.sub_(exp_avg / denom * (lr / bias_correction1))


class AdamW(Adam):
    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
