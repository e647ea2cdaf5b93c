"""Reductions: sum, max, min (with arg variants), and mean/var/logsumexp built on them.

`dim`/`axis` take an int or a tuple, `keepdim`/`keepdims` keep reduced axes as size 1.
As in PyTorch, `x.max(dim)` returns `(values, indices)`; `gg.amax` returns values only.
"""

from __future__ import annotations

import warnings
from collections import namedtuple

import numpy as np

from .. import dtypes
from ..creation import as_tensor, engine_constant
from ..errors import DtypeError, ShapeError
from ..source import user_source
from ..tensor import Tensor, saves_also, tensor_method
from .common import (
    Sample,
    linear_jvp,
    normalize_axes,
    normalize_axis,
    promote_float,
    rand_array,
    reduced_shape,
)
from .elementwise import abs as abs_
from .elementwise import cast, exp, log, maximum, minimum, sqrt, where
from .logic import eq, logical_or_op, ne
from .registry import RESULT, Op, saves, saves_none
from .shape import broadcast_to, index_op, reshape, reshape_op

MaxMin = namedtuple("MaxMin", ["values", "indices"])

_SHAPES = [((3, 4), None), ((3, 4), (1,)), ((2, 3, 4), (0, 2)), ((5,), (0,)), ((), None),
           ((0, 3), (0,))]


_AXES = ("tuple[int, ...] | None: the reduced axes, sorted and non-negative; None: all "
         "axes; (): none (a 0-d operand)")
_KEEPDIMS = "bool: keep each reduced axis as size 1"
_REDUCED = "x's shape without the reduced axes (with keepdims: with size 1 there); x's dtype"


def _reduce_infer(x, axis, keepdims):
    return reduced_shape(x.shape, axis, keepdims), x.dtype


def _reduce_samples():
    return [Sample((rand_array(s),), {"axis": a, "keepdims": k})
            for s, a in _SHAPES for k in (False, True)]


def _expand_back(g, x, axis, keepdims):
    """Broadcast a reduced gradient back over the reduced axes of x."""
    if not keepdims:
        g = reshape(g, reduced_shape(x.shape, axis, True))
    return broadcast_to(g, x.shape)


sum_op = Op("sum")
sum_op.infer = _reduce_infer
sum_op.document("the sum over axis (np.add.reduce(x, axis, keepdims=keepdims))",
                result=_REDUCED,
                axis=_AXES, keepdims=_KEEPDIMS)
sum_op.vjp = lambda g, out, x, axis, keepdims: (_expand_back(g, x, axis, keepdims),)
sum_op.jvp = linear_jvp(sum_op)
sum_op.saves = saves_none
sum_op.samples = _reduce_samples


def _share(out, x, axis, keepdims):
    """Each element's share of max/min: 1/k on the k elements that tie for it, else 0.
    A NaN result is the NaNs' (torch's max of [3, nan, 1] passes its gradient to the
    NaN, not NaN to every element)."""
    hit = eq(x, _expand_back(out, x, axis, keepdims))
    if x.dtype.kind == "f":  # (a NaN makes its whole reduction NaN: the NaNs are the hits)
        hit = logical_or_op(hit, ne(x, x))
    mask = cast(hit, x.dtype)
    count = _expand_back(sum_op(mask, axis=axis, keepdims=keepdims), x, axis, keepdims)
    return mask / count


def _extreme_vjp(g, out, x, axis, keepdims):
    # Ties share the gradient equally (what central differences see at a two-way tie).
    return (_expand_back(g, x, axis, keepdims) * _share(out, x, axis, keepdims),)


def _extreme_jvp(t, out, x, axis, keepdims):
    return sum_op(t[0] * _share(out, x, axis, keepdims), axis=axis, keepdims=keepdims)


max_op = Op("max")
max_op.infer = _reduce_infer
max_op.document("the largest element over axis; NaN propagates (np.maximum.reduce)",
                result=_REDUCED, axis=_AXES, keepdims=_KEEPDIMS)
max_op.vjp = _extreme_vjp
max_op.jvp = _extreme_jvp
def _extreme_samples():
    # Two-way ties (central differences see a 1/2 share there, as the VJP gives).
    tied = np.array([[2.0, -1.0, 2.0, -1.0], [0.5, 1.0, -0.5, 1.0], [0.3, -0.7, -0.7, 0.1]])
    return [s for s in _reduce_samples() if 0 not in s.args[0].shape] + [
        Sample((tied,), {"axis": a, "keepdims": False}, note="ties") for a in (None, (1,))]


max_op.samples = _extreme_samples
min_op = Op("min")
min_op.infer = _reduce_infer
min_op.document("the smallest element over axis; NaN propagates (np.minimum.reduce)",
                result=_REDUCED, axis=_AXES, keepdims=_KEEPDIMS)
min_op.vjp = _extreme_vjp
min_op.jvp = _extreme_jvp
min_op.samples = max_op.samples
# PyTorch's amax/amin and full max/min save x and the result (the ties share)
max_op.saves = min_op.saves = saves(0, RESULT)


def _arg_infer(x, axis, keepdims):
    axes = None if axis is None else (axis,)
    return reduced_shape(x.shape, axes, keepdims), dtypes.int64


argmax_op = Op("argmax", differentiable=False)
argmax_op.infer = _arg_infer
argmax_op.document("the index of the first largest element along axis (np.argmax)",
                   result="x's shape without axis (all axes when None; with keepdims: size "
                          "1 there); int64",
                   axis="int | None: the axis, non-negative; None: over the flattened x",
                   keepdims="bool: keep the axis as size 1 (only with an int axis)")
argmax_op.samples = lambda: [Sample((rand_array((3, 4)),), {"axis": a, "keepdims": False},
                                    diff=()) for a in (None, 0, 1)]
argmin_op = Op("argmin", differentiable=False)
argmin_op.infer = _arg_infer
argmin_op.document("the index of the first smallest element along axis (np.argmin)",
                   result=argmax_op.result, **argmax_op.attr_docs)
argmin_op.samples = argmax_op.samples


def _axes(x, dim, axis, op):
    dim = axis if dim is None else dim
    if isinstance(dim, (tuple, list)) and not dim:
        return None  # PyTorch's sum(x, ()) and mean(x, []) reduce every dim
    return normalize_axes(dim, x.ndim, op)


def _floating(x, op: str, dtype=None):
    """x for a mean-like reduction: PyTorch refuses integer and bool inputs without a
    floating `dtype` rather than guess one."""
    if dtype is not None:
        return x.astype(dtype)
    if not dtypes.is_float(x.dtype):
        raise DtypeError(f"{op}(): could not infer output dtype. Input dtype must be either "
                         f"a floating point or complex dtype. Got: {dtypes.short(x.dtype)} "
                         "(convert it with .float() first, or pass dtype=)", op=op,
                         source=user_source())
    return x


@tensor_method()
def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None) -> Tensor:
    """Sum over `dim` (int or tuple; all axes when None)."""
    if x.dtype == dtypes.bool_ or (x.dtype.kind in "iu" and x.dtype != dtypes.int64):
        x = x.long()  # PyTorch sums bools and every integer type as int64
    out = None
    if dtype is not None:
        dtype, out = dtypes.accumulation(dtype)
        x = x.astype(dtype)
    keep = keepdim if keepdims is None else keepdims
    total = sum_op(x, axis=_axes(x, dim, axis, "sum"), keepdims=bool(keep))
    return total if out is None else total.astype(out)


@tensor_method()
def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None) -> Tensor:
    """Mean over `dim`, of a floating tensor (or in `dtype`)."""
    if not isinstance(x, Tensor):
        (x,) = promote_float(x)
    x = _floating(x, "mean", dtype)
    axes = _axes(x, dim, axis, "mean")
    n = x.numel() if axes is None else _count(x.shape, axes)
    keep = keepdim if keepdims is None else keepdims
    total = sum_op(x, axis=axes, keepdims=bool(keep))
    return total * engine_constant(1.0 / n if n else float("nan"), like=x)


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _extreme(op, argop, x, dim, keepdim, axis, keepdims):
    if x.numel() == 0:
        raise ShapeError(f"{op.name}() of an empty tensor (shape {x.shape}) has no identity",
                         op=op.name, source=user_source())
    keep = bool(keepdim if keepdims is None else keepdims)
    d = axis if dim is None else dim
    if d is None:
        return op(x, axis=None, keepdims=False)
    a = normalize_axes(d, x.ndim, op.name)
    if len(a) != 1:
        return op(x, axis=a, keepdims=keep)
    idx = argop(x, axis=a[0], keepdims=True)
    values = _take(x, idx, a[0])
    if not keep:
        values, idx = (reshape_op(t, shape=x.shape[:a[0]] + x.shape[a[0] + 1:])
                       for t in (values, idx))
    return MaxMin(values, idx)


def _take(x: Tensor, idx: Tensor, axis: int) -> Tensor:
    """x at `idx` (keepdims shape) along `axis`, by advanced indexing: as PyTorch's
    max(dim) the gradient goes to that index alone and only the indices are saved (a
    later in-place change of x or of the values is no error there either)."""
    grids = [idx if k == axis else as_tensor(np.arange(n).reshape(
        (1,) * k + (n,) + (1,) * (x.ndim - k - 1)), like=x) for k, n in enumerate(x.shape)]
    return index_op(x, *grids, spec=(("tensor",),) * x.ndim)


@tensor_method()
def max(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The largest value; with `dim`, `(values, indices)` like PyTorch."""
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    return _extreme(max_op, argmax_op, x, dim, keepdim, axis, keepdims)


@tensor_method()
def min(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The smallest value; with `dim`, `(values, indices)` like PyTorch."""
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    return _extreme(min_op, argmin_op, x, dim, keepdim, axis, keepdims)


@tensor_method()
def amax(x, dim=None, keepdim=False) -> Tensor:
    return max_op(x, axis=normalize_axes(dim, x.ndim, "amax"), keepdims=bool(keepdim))


@tensor_method()
def amin(x, dim=None, keepdim=False) -> Tensor:
    return min_op(x, axis=normalize_axes(dim, x.ndim, "amin"), keepdims=bool(keepdim))


@tensor_method()
def argmax(x, dim=None, keepdim=False) -> Tensor:
    return _arg_extreme(argmax_op, x, dim, keepdim)


@tensor_method()
def argmin(x, dim=None, keepdim=False) -> Tensor:
    return _arg_extreme(argmin_op, x, dim, keepdim)


def _arg_extreme(op, x, dim, keepdim) -> Tensor:
    axis = None if dim is None else normalize_axis(dim, x.ndim, op.name)
    axis = axis if x.ndim else None  # dim 0 / -1 of a 0-d tensor: its only element
    out = op(x, axis=axis, keepdims=bool(keepdim) and axis is not None)
    # (keepdim over all dims: every dim kept as 1, as torch)
    return out.reshape((1,) * x.ndim) if keepdim and axis is None and x.ndim else out


@tensor_method()
def logsumexp(x, dim, keepdim=False) -> Tensor:
    """log(sum(exp(x))) computed stably by shifting by the (constant) maximum."""
    (x,) = promote_float(x)
    axes = normalize_axes(dim, x.ndim, "logsumexp")
    m = max_op(x, axis=axes, keepdims=True).detach()
    m = where(abs_(m) < float("inf"), m, 0.0)  # all -inf (or an inf) must not give inf - inf
    out = log(sum_op(exp(x - m), axis=axes, keepdims=True)) + m
    out = out if keepdim else reshape(out, reduced_shape(x.shape, axes, False))
    return saves_also("logsumexp", out, x, result_too=True)  # as PyTorch's


@tensor_method()
def var(x, dim=None, unbiased=True, keepdim=False, *, correction=None) -> Tensor:
    """Variance; `unbiased`/`correction` as in PyTorch (Bessel's correction by default).

    A bool second argument is `unbiased`, as in `torch.var(x, True)` (a bool is never a
    dim there, although Python counts it as an int).
    """
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    x = _floating(as_tensor(x), "var")
    axes = _axes(x, dim, None, "var")
    n = x.numel() if axes is None else _count(x.shape, axes)
    corr = (1 if unbiased else 0) if correction is None else correction
    centered = x - mean(x, axes, keepdim=True)
    dof = n - corr
    total = sum(centered * centered, axes, keepdim=keepdim)
    if dof > 0:
        out = total * (1.0 / dof)
    else:  # the sum over max(0, dof), as torch: inf, or NaN where every value is equal
        warnings.warn(f"var(): degrees of freedom is <= 0 (correction {corr} for {n} values)",
                      UserWarning, stacklevel=2)
        pos = total > 0  # (differentiable, and without NumPy's 0 * inf warning)
        out = where(pos, where(pos, total, 1.0) * float("inf"), total * float("nan"))
    return saves_also("var", out, x)  # PyTorch's var saves x


@tensor_method()
def std(x, dim=None, unbiased=True, keepdim=False, *, correction=None) -> Tensor:
    """sqrt(var), with PyTorch's gradient 0 (not NaN) where every value is the same.

    sqrt's derivative is infinite at 0; PyTorch masks it to 0 where std is 0, so the
    square root is taken of a safe stand-in there. NaN (too few values) stays NaN.
    """
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    v = var(x, dim, unbiased, keepdim, correction=correction)
    nonzero = v != 0
    out = where(nonzero, sqrt(where(nonzero, v, 1.0)), 0.0)
    return saves_also("std", out, x, result_too=True)  # PyTorch's std saves x and std
