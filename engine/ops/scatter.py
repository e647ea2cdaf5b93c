"""scatter, scatter_add and index_add: writing values at positions an index tensor
gives, as compositions of registry ops (index_put, gather_backward, index_backward).

PyTorch's semantics: `scatter` writes src[i][j] at out[i][index[i][j]] (dim 1), the last
write staying where an index repeats; `scatter_add` and `index_add` add up every
contribution. An index out of [0, size) raises, eagerly and compiled (check_index).
"""

from __future__ import annotations

import numpy as np

from ..creation import as_tensor
from ..errors import ShapeError, UnsupportedError
from ..source import user_source
from ..tensor import Tensor, tensor_method
from .common import normalize_axis
from .index_put import index_put_op
from .nn import check_index, gather_backward_op
from .shape import _FULL, index_backward_op


def _prepare(x, dim, index, src, op):
    """(axis, index checked, src cut to index's shape) for the scatter family."""
    index = as_tensor(index, like=x)
    axis = normalize_axis(dim, x.ndim, op)
    if index.dtype.kind not in "iu" or index.ndim != x.ndim:
        raise ShapeError(f"{op}: index must be an integer tensor with x's number of dims "
                         f"({x.ndim}), got {index.dtype}{list(index.shape)}", op=op,
                         source=user_source())
    if any(i > s for d, (i, s) in enumerate(zip(index.shape, x.shape)) if d != axis):
        raise ShapeError(f"{op}: index of shape {list(index.shape)} is larger than x of "
                         f"shape {list(x.shape)} outside dim {axis}", op=op,
                         source=user_source())
    src = src if isinstance(src, Tensor) else as_tensor(src, x.dtype, like=x)
    if src.ndim:
        if any(i > s for i, s in zip(index.shape, src.shape)) or src.ndim != index.ndim:
            raise ShapeError(f"{op}: index of shape {list(index.shape)} is larger than src "
                             f"of shape {list(src.shape)}", op=op, source=user_source())
        src = src[tuple(slice(0, n) for n in index.shape)]
    return axis, check_index(index, x.shape[axis], op), src.astype(x.dtype)


@tensor_method()
def scatter(x, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """out[...][index[i][j]][...] = src[i][j] along `dim` (or `value` everywhere)."""
    if reduce is not None:
        raise UnsupportedError("scatter: reduce= is not supported; use scatter_add or "
                               "scatter_reduce-free code", op="scatter", source=user_source())
    axis, index, src = _prepare(x, dim, index, value if src is None else src, "scatter")
    grids = np.indices(index.shape, sparse=True)
    parts = [index if d == axis else as_tensor(g.astype(np.int64), like=x)
             for d, g in enumerate(grids)]
    return index_put_op(x, src.broadcast_to(index.shape), *parts,
                        spec=(("tensor",),) * x.ndim)


@tensor_method()
def scatter_add(x, dim: int, index, src) -> Tensor:
    """x plus src[i][j] added at out[...][index[i][j]][...] along `dim`, repeats summed."""
    axis, index, src = _prepare(x, dim, index, src, "scatter_add")
    return x + gather_backward_op(src.broadcast_to(index.shape), index, axis=axis,
                                  shape=x.shape)


@tensor_method()
def index_add(x, dim: int, index, source, *, alpha=1) -> Tensor:
    """x plus `alpha * source` added at the positions `index` (1-D) along `dim`."""
    index = as_tensor(index, like=x)
    axis = normalize_axis(dim, x.ndim, "index_add")
    if index.ndim != 1 or index.dtype.kind not in "iu":
        raise ShapeError(f"index_add: index must be a 1-D integer tensor, got "
                         f"{index.dtype}{list(index.shape)}", op="index_add",
                         source=user_source())
    index = check_index(index, x.shape[axis], "index_add")
    source = source if alpha == 1 else source * alpha
    spec = (_FULL,) * axis + (("tensor",),)
    return x + index_backward_op(source.astype(x.dtype), index, spec=spec, shape=x.shape)


def _in_place(fn):
    def method(self, *args, **kwargs) -> Tensor:
        return self._inplace(lambda s: fn(s, *args, **kwargs))
    method.__name__ = f"{fn.__name__}_"
    method.__doc__ = f"{fn.__name__}, in place."
    return method


for _fn in (scatter, scatter_add, index_add):
    setattr(Tensor, f"{_fn.__name__}_", _in_place(_fn))
