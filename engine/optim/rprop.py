"""Rprop (Riedmiller & Braun, 1993), PyTorch's variant: per-weight step sizes grown or
shrunk by the sign agreement of successive gradients.

    s = sign(g * g_prev);  f = etaplus where s > 0, etaminus where s < 0, else 1
    step_size = clamp(step_size * f, step_size_min, step_size_max)
    g = 0 where s < 0;  p = p - sign(g) * step_size;  g_prev = g

`etas` and `step_sizes` are read at every call of a compiled step (`lr` only sets the
first step sizes, as in PyTorch). The bounds are applied with maximum/minimum rather
than `clamp`, whose bounds are fixed attributes of the op.
"""

from __future__ import annotations

from ..creation import full_like, ones_like, zeros, zeros_like
from ..errors import ArgumentError
from ..ops.elementwise import maximum, minimum, sign, where
from ..source import user_source
from ..tensor import Tensor
from .optimizer import Optimizer, check_nonnegative, hyper


class Rprop(Optimizer):
    def __init__(self, params, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, maximize: bool = False):
        check_nonnegative(("learning rate", lr))
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ArgumentError(f"Invalid eta values: {etas[0]}, {etas[1]}", source=user_source())
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes),
                                      maximize=maximize))

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {"step": zeros((), device=p._backend), "prev": zeros_like(p),
                "step_size": full_like(p, float(group["lr"]))}

    dynamic_hyperparameters = ("lr", "etas", "step_sizes")

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        etaminus, etaplus = hyper(group, "etas", p, index=0), hyper(group, "etas", p, index=1)
        lo = hyper(group, "step_sizes", p, index=0)
        hi = hyper(group, "step_sizes", p, index=1)
        prev, step_size = state["prev"], state["step_size"]
        state["step"].add_(1)
        agree = sign(grad * prev)
        # (a tensor innermost: two Python floats would make a default-float32 tensor)
        factor = where(agree > 0, etaplus, where(agree < 0, etaminus, ones_like(p)))
        step_size.copy_(minimum(maximum(step_size * factor, lo), hi))  # clamp(lo, hi)
        grad = where(agree < 0, 0.0, grad)
        p.sub_(sign(grad) * step_size)
        prev.copy_(grad)
