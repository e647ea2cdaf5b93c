"""Rounding (`floor`, `ceil`, `round`, `trunc`, `frac`) and the divisions built on it
(`fmod`, `remainder`, `floor_divide`, `div`'s rounding modes), as compositions of
registry ops.

`trunc` is a cast to int64 and back, taken only where |x| < 2**52: every float at least
that large is already an integer (float32's limit, 2**23, is smaller still), and NaN
and the infinities pass through untouched, without NumPy's cast warning. Like
PyTorch's, the rounding functions have a zero derivative; `frac`, `fmod` and
`remainder` have PyTorch's derivatives (1 for the dividend, minus the rounded quotient
for the divisor).
"""

from __future__ import annotations

from .. import dtypes
from ..creation import zeros_like
from ..errors import ArgumentError, NumericalError
from ..source import user_source
from ..tensor import Tensor, tensor_method
from .elementwise import abs, cast, promote, where
from .elementwise import div as true_div

_EXACT = 2.0 ** 52  # at and beyond this magnitude a float64 holds only integers


def _integral(x) -> bool:
    return x.dtype.kind in "biu"


def _zero_grad(x, result) -> Tensor:
    """`result`, linked to `x` with a zero derivative (PyTorch's rounding functions keep
    requires_grad; their gradient is 0)."""
    if not x.requires_grad:
        return result
    return where(zeros_like(x, dtype=dtypes.bool_), x, result)


@tensor_method()
def trunc(x) -> Tensor:
    if _integral(x):
        return x.clone()
    v = x.detach()
    small = abs(v) < _EXACT
    safe = where(small, v, 0.0)
    return _zero_grad(x, where(small, cast(cast(safe, dtypes.int64), x.dtype), v))


@tensor_method()
def floor(x) -> Tensor:
    if _integral(x):
        return x.clone()
    t = trunc(x.detach())
    return _zero_grad(x, where(x.detach() < t, t - 1.0, t))


@tensor_method()
def ceil(x) -> Tensor:
    if _integral(x):
        return x.clone()
    t = trunc(x.detach())
    return _zero_grad(x, where(x.detach() > t, t + 1.0, t))


@tensor_method()
def round(x, *, decimals: int = 0) -> Tensor:
    """Round half to even (as PyTorch and NumPy), optionally to `decimals` places."""
    if _integral(x):
        return x.clone()
    if decimals:
        scale = 10.0 ** decimals
        return _zero_grad(x, round(x.detach() * scale) / scale)
    v = x.detach()
    small = abs(v) < _EXACT  # beyond (and NaN, the infinities): x itself
    vs = where(small, v, 0.0)
    f = floor(vs)
    d = vs - f
    even = floor(f * 0.5) * 2.0 == f
    up = (d > 0.5) | ((d == 0.5) & ~even)
    return _zero_grad(x, where(small, where(up, f + 1.0, f), v))


@tensor_method()
def frac(x) -> Tensor:
    small = abs(x.detach()) < _EXACT  # beyond: 0 for finite x, NaN for the infinities
    xs = where(small, x, 0.0)
    big = where(abs(x.detach()) < float("inf"), 0.0, float("nan"))
    return where(small, xs - trunc(xs), big)


@tensor_method()
def fmod(a, b) -> Tensor:
    """The remainder of a / b with the sign of `a` (C's fmod)."""
    a, b = promote(a, b)
    return a - _quotient(a, b, trunc) * b


@tensor_method()
def remainder(a, b) -> Tensor:
    """The remainder of a / b with the sign of `b` (Python's %)."""
    a, b = promote(a, b)
    return a - _quotient(a, b, floor) * b


@tensor_method()
def floor_divide(a, b) -> Tensor:
    a, b = promote(a, b)
    return _quotient(a, b, floor)


def _quotient(a, b, rounding) -> Tensor:
    """a / b rounded by `rounding`, in a's dtype; integers divide in float64 (exact for
    |a| < 2**52)."""
    if not _integral(a):
        return rounding(a / b)
    # (on the array: a constant divisor in a traced step is concrete, an op on it traced)
    if b._value is not None and (b._backend.to_numpy(b._value) == 0).any():
        raise NumericalError("integer division by zero (torch: ZeroDivisionError); a "
                             "float division gives inf instead", source=user_source())
    return cast(rounding(cast(a, dtypes.float64) / cast(b, dtypes.float64)), a.dtype)


@tensor_method("div")
def div(a, b, *, rounding_mode: str | None = None) -> Tensor:
    """a / b, or with `rounding_mode` "floor" or "trunc" the quotient rounded down or
    toward zero, in the operands' dtype (torch.div)."""
    if rounding_mode is None:
        return true_div(a, b)
    a, b = promote(a, b)
    if rounding_mode == "floor":
        return _quotient(a, b, floor)
    if rounding_mode == "trunc":
        return _quotient(a, b, trunc)
    raise ArgumentError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                        f"but found {rounding_mode!r}", source=user_source())


Tensor.__floordiv__ = floor_divide
Tensor.__rfloordiv__ = lambda self, other: floor_divide(other, self)
Tensor.__mod__ = remainder
Tensor.__rmod__ = lambda self, other: remainder(other, self)
Tensor.__ifloordiv__ = lambda self, other: self.copy_(floor_divide(self, other))
Tensor.__imod__ = lambda self, other: self.copy_(remainder(self, other))
