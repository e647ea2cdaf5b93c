"""Ordering and scans: `argsort` and `cumsum` primitives; sort, topk and multinomial on top.

Only the index computation is a primitive (`argsort`, not differentiable); `sort` and
`topk` gather the values with those indices, so their gradients are `gather`'s (the
values flow back to where they came from) with no rule of their own. `multinomial`
draws uniforms with `rand` and inverts the cumulative distribution (with replacement)
or ranks Gumbel-perturbed log-probabilities (without), so it is an ordinary
composition that runs eagerly and traced.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import dtypes
from ..creation import rand
from ..errors import ArgumentError, ShapeError
from ..source import user_source
from ..tensor import Tensor, tensor_method
from .common import Sample, linear_jvp, normalize_axis, rand_array
from .elementwise import log, where
from .nn import gather
from .registry import Op, saves_none
from .shape import index_op

argsort_op = Op("argsort", differentiable=False)
argsort_op.infer = lambda x, axis, descending: (x.shape, dtypes.int64)
argsort_op.document(
    "the indices that sort x along axis, stable: equal values keep their order, in both "
    "directions (torch.sort(stable=True); NumPy's argsort(x, axis, kind='stable'), of -x "
    "when descending, bools and unsigned ints widened to int64 first); NaN sorts as the "
    "largest value (last ascending, first descending, as torch)",
    result="x's shape; int64",
    axis="int: the axis sorted along, non-negative",
    descending="bool: largest first (ties still in their original order)")
argsort_op.samples = lambda: [
    Sample((rand_array((3, 5)),), {"axis": 1, "descending": False}, diff=()),
    Sample((rand_array((4, 2)),), {"axis": 0, "descending": True}, diff=()),
    Sample((rand_array((6,)).round(),), {"axis": 0, "descending": True}, diff=(),
           note="ties stay in order"),
    Sample((np.array([[3.0, np.nan, 1.0, np.nan], [2.0, 0.0, np.nan, 5.0]]),),
           {"axis": 1, "descending": True}, diff=(), note="NaN is the largest: first"),
    Sample((rand_array((0, 3)),), {"axis": 1, "descending": False}, diff=())]


# torch.return_types.sort / topk: a tuple that also names its parts (`.values`)
SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])


@tensor_method()
def argsort(x, dim: int = -1, descending: bool = False, *, stable: bool = True) -> Tensor:
    """Indices that sort `x` along `dim` (stable: equal values keep their order)."""
    if x.ndim == 0:  # (a 0-d tensor is its own order: index 0, 0-d, as torch)
        normalize_axis(dim, 1, "argsort")
        return argsort_op(x.reshape(1), axis=0, descending=bool(descending)).reshape(())
    return argsort_op(x, axis=normalize_axis(dim, x.ndim, "argsort"), descending=bool(descending))


@tensor_method()
def sort(x, dim: int = -1, descending: bool = False, *, stable: bool = True) -> SortResult:
    """(values, indices) sorted along `dim`; gradients flow back through the gather."""
    if x.ndim == 0:
        return SortResult(x.clone(), argsort(x, dim, descending))
    idx = argsort(x, dim, descending)
    return SortResult(gather(x, dim, idx), idx)


@tensor_method()
def topk(x, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopkResult:
    """(values, indices) of the k largest (or smallest) entries along `dim`."""
    if x.ndim == 0:
        if k not in (0, 1):
            raise ShapeError(f"topk: k={k} is out of range for a 0-d tensor", op="topk",
                             source=user_source())
        return TopkResult(*sort(x, dim, largest))  # (k = 0 too: torch's 0-d answer)
    axis = normalize_axis(dim, x.ndim, "topk")
    if not 0 <= k <= x.shape[axis]:
        raise ShapeError(f"topk: k={k} is out of range for dim {dim} of size {x.shape[axis]}",
                         op="topk", source=user_source())
    order = argsort_op(x, axis=axis, descending=bool(largest))
    spec = (("slice", None, None, None),) * axis + (("slice", 0, k, None),)
    idx = index_op(order, spec=spec)
    return TopkResult(gather(x, axis, idx), idx)


cumsum_op = Op("cumsum")
cumsum_op.infer = lambda x, axis: (x.shape, x.dtype)
cumsum_op.document(
    "running sums along axis: out[..., i, ...] = x[..., 0, ...] + ... + x[..., i, ...] "
    "(np.cumsum(x, axis)); x has at least one dim (the public cumsum passes integers and "
    "bools as int64)", result="x's shape and dtype",
    axis="int: the axis summed along, non-negative")


def _reverse(x, axis):
    spec = (("slice", None, None, None),) * axis + (("slice", None, None, -1),)
    return index_op(x, spec=spec)


cumsum_op.vjp = lambda g, out, x, axis: (
    _reverse(cumsum_op(_reverse(g, axis), axis=axis), axis),)
cumsum_op.jvp = linear_jvp(cumsum_op)
cumsum_op.saves = saves_none
cumsum_op.samples = lambda: [Sample((rand_array((3, 4)),), {"axis": 1}),
                             Sample((rand_array((4, 2, 3)),), {"axis": 0}),
                             Sample((rand_array((5,)),), {"axis": 0}),
                             Sample((rand_array((0, 3)),), {"axis": 1})]


@tensor_method()
def cumsum(x, dim: int, dtype=None) -> Tensor:
    """Running sums along `dim` (integers and bools sum as int64, like PyTorch; a
    narrower integer `dtype` wraps around as its own arithmetic would)."""
    out = None
    if dtype is not None:
        dtype, out = dtypes.accumulation(dtype)
        x = x.astype(dtype)
    elif x.dtype.kind in "bui":
        x = x.astype(dtypes.int64)
    if x.ndim:
        x = cumsum_op(x, axis=normalize_axis(dim, x.ndim, "cumsum"))
    return x if out is None else x.astype(out)


@tensor_method()
def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None):
    """Draw `num_samples` category indices per row of non-negative weights `input`."""
    if input.ndim not in (1, 2):
        raise ShapeError(f"multinomial: prob_dist must be 1 or 2 dim, got {input.shape}",
                         op="multinomial", source=user_source())
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ArgumentError(f"multinomial: num_samples must be a positive int, got "
                            f"{num_samples!r}", source=user_source())
    if input._value is not None and input.numel():  # (eagerly: a trace has no values)
        p = input.detach().numpy().astype(np.float64)
        if not np.isfinite(p).all() or (p < 0).any():
            raise ArgumentError("multinomial: probability tensor contains either inf, nan or "
                                "element < 0", source=user_source())
        if (p.sum(-1) <= 0).any():
            raise ArgumentError("multinomial: invalid multinomial distribution (sum of "
                                "probabilities <= 0)", source=user_source())
    if not replacement and num_samples > input.shape[-1]:
        raise ShapeError(f"multinomial: cannot draw {num_samples} samples without "
                         f"replacement from {input.shape[-1]} categories",
                         op="multinomial", source=user_source())
    p = input.detach().astype(dtypes.float64)
    rows = p if p.ndim == 2 else p.unsqueeze(0)
    if replacement:
        cdf = cumsum(rows, -1)
        u = rand(rows.shape[0], num_samples, 1, dtype=dtypes.float64, generator=generator,
                 device=p._backend.name) * cdf[:, -1:].unsqueeze(1)
        idx = (cdf.unsqueeze(1) <= u).sum(-1)  # the first category whose cdf passes u
        idx = idx.clamp(max=rows.shape[-1] - 1)
    else:  # Gumbel top-k: ranks of log p - log(-log u) are a draw without replacement
        u = rand(*rows.shape, dtype=dtypes.float64, generator=generator,
                 device=p._backend.name).clamp(min=1e-300)
        keys = where(rows > 0, log(rows.clamp(min=1e-300)), float("-inf")) - log(-log(u))
        idx = topk(keys, num_samples, -1)[1]
    return idx if p.ndim == 2 else idx.squeeze(0)
