"""PyTorch functions that are compositions of registry ops.

Code ported from PyTorch reaches for `torch.mm`, `x.square()`, `x.isnan().any()`,
`torch.log10`, `x.new_zeros(...)`: each is here as a few lines over the registry's
ops, so it differentiates, traces into a compiled plan and runs on every backend with
no kernel of its own. Each is also a Tensor method where PyTorch has one. Functions
whose result's shape depends on the values (`nonzero`, `unique`, `bincount`) run
eagerly only, and say so inside a compiled step.
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..creation import as_tensor, engine_constant, full, tensor, zeros
from ..errors import ShapeError
from ..source import user_source
from ..tensor import Tensor, saves_also, tensor_method
from .elementwise import (
    abs,
    clamp,
    cos,
    exp,
    log,
    promote_float,
    sign,
    sin,
    sqrt,
    tanh,
    where,
)
from .linalg import matmul
from .logic import logical_and, ne
from .reduction import sum
from .shape import cat, permute, reshape, transpose
from .slicing import narrow, pad, select_along

_LN10, _LN2 = math.log(10.0), math.log(2.0)


def _float(x) -> Tensor:
    (x,) = promote_float(x)
    return x


# ---------------------------------------------------------------------- elementwise
@tensor_method()
def log10(x) -> Tensor:
    return log(x) * (1.0 / _LN10)


@tensor_method()
def log2(x) -> Tensor:
    return log(x) * (1.0 / _LN2)


@tensor_method()
def exp2(x) -> Tensor:
    """exp(x ln 2), the product taken in float64 for a narrower float: x ln 2 rounded to
    float32 is off by |x| 6e-8 (2e-6 of the result at x = 100). (Not 2 ** x: pow saves
    its exponent, where PyTorch's exp2 saves only its result.)"""
    x = _float(x)
    if x.dtype == dtypes.float64:
        return exp(x * _LN2)
    out = exp(x.to(dtypes.float64) * _LN2).to(x.dtype)
    return saves_also("exp2", out, result_too=True)  # as PyTorch's


@tensor_method()
def expm1(x) -> Tensor:
    """e^x - 1, accurate near 0: there 2t / (1 - t) with t = tanh(x / 2), which has no
    cancellation (exp(x) - 1 loses the low digits of a tiny result)."""
    x = _float(x)
    near = clamp(x, -0.5, 0.5)
    t = tanh(near * 0.5)
    out = where(abs(x) < 0.5, t * 2.0 / (1.0 - t), exp(x) - 1.0)
    return saves_also("expm1", out, result_too=True)  # PyTorch's expm1 saves its result


@tensor_method()
def square(x) -> Tensor:
    return x * x


@tensor_method()
def reciprocal(x) -> Tensor:
    return saves_also("reciprocal", 1.0 / _float(x), result_too=True)  # as PyTorch's


@tensor_method()
def rsqrt(x) -> Tensor:
    return saves_also("rsqrt", 1.0 / sqrt(x), result_too=True)  # as PyTorch's


@tensor_method()
def tan(x) -> Tensor:
    return saves_also("tan", sin(x) / cos(x), result_too=True)  # as PyTorch's


@tensor_method()
def sinh(x) -> Tensor:
    """(expm1(x) - expm1(-x)) / 2: its terms have opposite signs, so nothing cancels near
    0, where (exp(x) - exp(-x)) / 2 lost every digit (sinh(1e-6) came out 1% high)."""
    x = _float(x)
    return saves_also("sinh", (expm1(x) - expm1(-x)) * 0.5, x)  # as PyTorch's


@tensor_method()
def cosh(x) -> Tensor:
    """(exp(x) + exp(-x)) / 2, and 1 + 2 sinh(x / 2)^2 below |x| = 1: the same value, but
    a gradient, sinh(x), that does not cancel near 0 as (exp(x) - exp(-x)) / 2 does."""
    x = _float(x)
    half = sinh(clamp(x, -1.0, 1.0) * 0.5)  # (clamped: the branch not taken stays finite)
    out = where(abs(x) < 1.0, half * half * 2.0 + 1.0, (exp(x) + exp(-x)) * 0.5)
    return saves_also("cosh", out, x)  # as PyTorch's


@tensor_method()
def clamp_min(x, min) -> Tensor:
    return clamp(x, min=min)


@tensor_method()
def clamp_max(x, max) -> Tensor:
    return clamp(x, max=max)


@tensor_method()
def lerp(start, end, weight) -> Tensor:
    return start + weight * (end - start)


@tensor_method()
def hypot(a, b) -> Tensor:
    return sqrt(a * a + b * b)


@tensor_method()
def xlogy(x, y) -> Tensor:
    """x * log(y), and 0 where x is 0 (even where log(y) is -inf or NaN, but not where y
    is NaN). The gradient in x is log(y), also where x is 0, as PyTorch's (0 there where
    y <= 0): a `where` on the product would have made it 0 at every x = 0."""
    zero_x = x == 0
    factor = where(zero_x & ((y <= 0) | (y == math.inf)), 0.0, log(y))
    return x * factor


@tensor_method()
def isnan(x) -> Tensor:
    return ne(x, x)


@tensor_method()
def isinf(x) -> Tensor:
    if x.dtype.kind != "f":
        return zeros(*x.shape, dtype=dtypes.bool_, device=x._backend.name)
    return abs(x) == float("inf")


@tensor_method()
def isfinite(x) -> Tensor:
    if x.dtype.kind != "f":
        return full(x.shape, True, dtype=dtypes.bool_, device=x._backend.name)
    return logical_and(x == x, abs(x) != float("inf"))


@tensor_method()
def nan_to_num(x, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """NaN, +inf and -inf replaced (by 0 and the dtype's largest/smallest finite value
    by default); the gradient is 0 where a value was replaced."""
    if x.dtype.kind != "f":
        return x
    info = np.finfo(x.dtype)
    big = float(info.max) if posinf is None else posinf
    small = float(info.min) if neginf is None else neginf
    out = where(isnan(x), nan, x)
    out = where(out == float("inf"), big, out)
    return where(out == float("-inf"), small, out)


@tensor_method()
def isclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    finite = isfinite(a) & isfinite(b)  # (inf - inf is NaN, with NumPy's warning)
    a0, b0 = where(finite, a, 0.0), where(finite, b, 0.0)
    close = finite & (abs(a0 - b0) <= atol + rtol * abs(b0)) | (a == b)
    return close | (isnan(a) & isnan(b)) if equal_nan else close


# sgn, positive, negative, absolute, true_divide: PyTorch's other names
@tensor_method()
def sgn(x) -> Tensor:
    return sign(x)


@tensor_method()
def positive(x) -> Tensor:
    return x


@tensor_method()
def negative(x) -> Tensor:
    return -x


@tensor_method()
def absolute(x) -> Tensor:
    return abs(x)


@tensor_method()
def true_divide(a, b) -> Tensor:
    return _float(a) / b


# ---------------------------------------------------------------------- reductions
@tensor_method()
def all(x, dim=None, keepdim: bool = False) -> Tensor:
    return sum(x == 0, dim, keepdim=keepdim) == 0


@tensor_method()
def any(x, dim=None, keepdim: bool = False) -> Tensor:
    return sum(x != 0, dim, keepdim=keepdim) > 0


@tensor_method()
def count_nonzero(x, dim=None) -> Tensor:
    return sum(x != 0, dim)


@tensor_method()
def nansum(x, dim=None, keepdim: bool = False) -> Tensor:
    return saves_also("nansum", sum(where(isnan(x), 0.0, x), dim, keepdim=keepdim), x)


@tensor_method()
def nanmean(x, dim=None, keepdim: bool = False) -> Tensor:
    kept = sum(~isnan(x), dim, keepdim=keepdim)
    return nansum(x, dim, keepdim) / kept.astype(x.dtype)


# ---------------------------------------------------------------------- matrices
def _check_dims(op: str, *pairs) -> None:
    for name, t, nd in pairs:
        if t.ndim != nd:
            raise ShapeError(f"{op}: {name} must be {nd}-D, got shape {t.shape}", op=op,
                             source=user_source())


@tensor_method()
def mm(a, b) -> Tensor:
    _check_dims("mm", ("self", a, 2), ("mat2", b, 2))
    return matmul(a, b)


@tensor_method()
def bmm(a, b) -> Tensor:
    _check_dims("bmm", ("self", a, 3), ("mat2", b, 3))
    if a.shape[0] != b.shape[0]:  # no broadcast of the batch (PyTorch's bmm)
        raise ShapeError(f"bmm: batch sizes differ: {a.shape[0]} and {b.shape[0]}", op="bmm",
                         source=user_source())
    return matmul(a, b)


@tensor_method()
def mv(a, v) -> Tensor:
    _check_dims("mv", ("self", a, 2), ("vec", v, 1))
    return matmul(a, v)


@tensor_method()
def outer(a, b) -> Tensor:
    _check_dims("outer", ("self", a, 1), ("vec2", b, 1))
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


@tensor_method()
def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:
    product = mm(mat1, mat2)
    return (input if beta == 1 else input * beta) + (product if alpha == 1 else product * alpha)


@tensor_method()
def diagonal(x, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal over dims (dim1, dim2), moved to the last dimension."""
    d1, d2 = dim1 % x.ndim, dim2 % x.ndim
    rest = [d for d in range(x.ndim) if d not in (d1, d2)]
    x = permute(x, tuple(rest) + (d1, d2))
    rows, cols = x.shape[-2], x.shape[-1]
    n = max(0, min(rows + min(offset, 0), cols - max(offset, 0)))
    # engine-made indices: a second backward is no error (PyTorch's diagonal saves none)
    r = engine_constant(np.arange(n) - min(offset, 0), like=x, dtype=np.int64)
    c = engine_constant(np.arange(n) + max(offset, 0), like=x, dtype=np.int64)
    return x[..., r, c]


@tensor_method()
def diag(x, diagonal: int = 0) -> Tensor:
    """A 1-D tensor's square matrix with it on a diagonal, or a matrix's diagonal."""
    if x.ndim == 2:
        return globals()["diagonal"](x, diagonal)
    _check_dims("diag", ("self", x, 1))
    n, k = x.shape[0], diagonal
    square = reshape(x, (1, n)) * tensor(np.eye(n), dtype=x.dtype, device=x._backend.name)
    if k == 0:
        return square
    return pad(square, (k, 0, 0, k) if k > 0 else (0, -k, -k, 0))


@tensor_method()
def trace(x) -> Tensor:
    _check_dims("trace", ("self", x, 2))
    return sum(diagonal(x))


# ---------------------------------------------------------------------- shapes
@tensor_method()
def movedim(x, source, destination) -> Tensor:
    src = [s % x.ndim for s in ((source,) if isinstance(source, int) else source)]
    dst = [d % x.ndim for d in ((destination,) if isinstance(destination, int)
                                else destination)]
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, tuple(order))


@tensor_method()
def swapaxes(x, axis0: int, axis1: int) -> Tensor:
    return transpose(x, axis0, axis1)


Tensor.swapdims = swapaxes
swapdims = swapaxes


@tensor_method()
def unflatten(x, dim: int, sizes) -> Tensor:
    d = dim % x.ndim
    return reshape(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


@tensor_method()
def diff(x, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The n-th forward difference along `dim`, after joining `prepend` and `append`."""
    if prepend is not None or append is not None:
        parts = [p if isinstance(p, Tensor) else as_tensor(p, like=x)
                 for p in (prepend, x, append) if p is not None]
        x = cat(parts, dim)
    for _ in range(n):
        length = x.shape[dim]
        x = narrow(x, dim, 1, length - 1) - narrow(x, dim, 0, length - 1)
    return x


@tensor_method()
def repeat_interleave(x, repeats: int, dim: int | None = None) -> Tensor:
    if dim is None:
        x, dim = reshape(x, (-1,)), 0
    index = np.repeat(np.arange(x.shape[dim]), int(repeats))
    return select_along(x, dim, tensor(index, device=x._backend.name))


@tensor_method()
def tile(x, *dims) -> Tensor:
    dims = tuple(dims[0]) if len(dims) == 1 and not isinstance(dims[0], int) else dims
    if len(dims) < x.ndim:
        dims = (1,) * (x.ndim - len(dims)) + dims
    elif len(dims) > x.ndim:
        x = reshape(x, (1,) * (len(dims) - x.ndim) + x.shape)
    for axis, k in enumerate(dims):
        if k != 1:
            index = np.tile(np.arange(x.shape[axis]), int(k))
            x = select_along(x, axis, engine_constant(index, like=x, dtype=np.int64))
    return x


def repeat(x, *sizes) -> Tensor:
    """`x.repeat(2, 3)`: x tiled along each dimension (`sizes` has at least x.ndim
    entries, as in PyTorch)."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and not isinstance(sizes[0], int) else sizes
    if len(sizes) < x.ndim:
        raise ShapeError(f"repeat: {len(sizes)} repeats for a {x.ndim}-D tensor; give at "
                         f"least one per dimension", op="repeat", source=user_source())
    return tile(x, sizes)


if not hasattr(Tensor, "repeat"):
    Tensor.repeat = repeat
