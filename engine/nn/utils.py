"""`nn.utils`: clip_grad_norm_ and clip_grad_value_ (PyTorch's semantics).

Both rescale or clamp `.grad` in place with Tensor ops and no Python branch on values,
so they work eagerly and inside a compiled step (the clipping becomes part of the plan
between backward and the optimizer update).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .. import grad_mode
from ..creation import as_tensor
from ..errors import NumericalError, UnsupportedError
from ..ops.linalg import vector_norm
from ..ops.reduction import amax
from ..ops.shape import stack
from ..source import user_source
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale the gradients so their joint `norm_type`-norm is at most `max_norm`;
    returns the norm before clipping (a 0-d tensor), as torch.nn.utils does."""
    grads = _grads(parameters)
    if not grads:
        return as_tensor(0.0)
    norm_type = float(norm_type)
    with grad_mode.no_grad():
        norms = stack([vector_norm(g, norm_type) for g in grads])
        total = amax(norms) if norm_type == float("inf") else vector_norm(norms, norm_type)
        if error_if_nonfinite and total._value is None:  # (tracing: no value to test)
            raise UnsupportedError(
                "clip_grad_norm_(error_if_nonfinite=True) inside a compiled function: a "
                "compiled step cannot raise on a value it computes. Clip eagerly, or leave "
                "error_if_nonfinite=False (a non-finite norm then makes the gradients NaN, "
                "as in PyTorch)", op="clip_grad_norm_", source=user_source())
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise NumericalError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                                 "gradients is non-finite", source=user_source())
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.astype(g.dtype))
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float,
                     foreach=None) -> None:
    """Clamp every gradient entry into [-clip_value, clip_value] in place."""
    with grad_mode.no_grad():
        for g in _grads(parameters):
            g.clamp_(-float(clip_value), float(clip_value))
