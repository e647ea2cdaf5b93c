"""The rest of PyTorch's everyday tensor API, over registry ops.

`x.new_zeros(...)`, `x.type_as(y)`, `x.view_as(y)`, `torch.prod`, `torch.median`,
`torch.aminmax`, and the functions whose result's *shape* depends on the values
(`nonzero`, `argwhere`, `masked_select`, `unique`, `bincount`): those run eagerly,
and inside a compiled step raise a TracingError saying so, since a plan has fixed
shapes.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import dtypes
from ..creation import full, tensor, zeros
from ..errors import DtypeError, ShapeError, TracingError
from ..source import user_source
from ..tensor import Tensor, saves_also, tensor_method
from .common import normalize_axis
from .shape import cat, permute, reshape, squeeze
from .slicing import narrow
from .sorting import sort

# ---------------------------------------------------------------------- new_* and *_as


def _like(self, dtype, device):
    return dict(dtype=dtype or self.dtype, device=device or self._backend.name)


def _size(size) -> tuple:
    return tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else size


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(*_size(size), requires_grad=requires_grad, **_like(self, dtype, device))


def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(_size(size), 1, requires_grad=requires_grad, **_like(self, dtype, device))


def new_full(self, size, fill_value, *, dtype=None, device=None,
             requires_grad=False) -> Tensor:
    return full(tuple(size), fill_value, requires_grad=requires_grad,
                **_like(self, dtype, device))


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return tensor(data, requires_grad=requires_grad, **_like(self, dtype, device))


Tensor.new_zeros = new_zeros
Tensor.new_empty = new_zeros
Tensor.new_ones = new_ones
Tensor.new_full = new_full
Tensor.new_tensor = new_tensor
Tensor.type_as = lambda self, other: self.astype(other.dtype)
Tensor.view_as = lambda self, other: self.view(*other.shape)
Tensor.reshape_as = lambda self, other: self.reshape(*other.shape)
Tensor.nelement = Tensor.numel
Tensor.ndimension = Tensor.dim
Tensor.element_size = lambda self: self.dtype.itemsize


def clone(x: Tensor) -> Tensor:
    return x.clone()


def numel(x: Tensor) -> int:
    return x.numel()


def t(x: Tensor) -> Tensor:
    return x.t()


# ---------------------------------------------------------------------- reductions
MedianResult = namedtuple("median", ["values", "indices"])
AminmaxResult = namedtuple("aminmax", ["min", "max"])


@tensor_method()
def prod(x, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The product along `dim` (all elements when None), as a tree of multiplications:
    exact with zeros (unlike exp(sum(log))), and its gradient is the product rule."""
    if dtype is not None:
        x = x.astype(dtype)
    elif x.dtype.kind in "bu" or x.dtype.kind == "i" and x.dtype.itemsize < 8:
        x = x.astype(dtypes.int64)
    if dim is None:
        out = _prod_last(reshape(x, (-1,)))
        out = reshape(out, (1,) * x.ndim) if keepdim else out
        return saves_also("prod", out, x, result_too=True)  # PyTorch's prod saves both
    axis = normalize_axis(dim, x.ndim, "prod")
    order = [d for d in range(x.ndim) if d != axis] + [axis]
    out = _prod_last(permute(x, tuple(order)))
    if keepdim:
        out = reshape(out, x.shape[:axis] + (1,) + x.shape[axis + 1:])
    return saves_also("prod", out, x, result_too=True)


def _prod_last(x: Tensor) -> Tensor:
    """Multiply the last dimension away: halve it, pairwise, log2(n) times."""
    n = x.shape[-1]
    if n == 0:
        return full(x.shape[:-1], 1, dtype=x.dtype, device=x._backend.name)
    while n > 1:
        if n % 2:
            one = full(x.shape[:-1] + (1,), 1, dtype=x.dtype, device=x._backend.name)
            x, n = cat([x, one], -1), n + 1
        x = narrow(x, -1, 0, n // 2) * narrow(x, -1, n // 2, n // 2)
        n //= 2
    return squeeze(x, -1)


@tensor_method()
def median(x, dim=None, keepdim: bool = False):
    """The lower median (PyTorch's): a value without `dim`; (values, indices) with it."""
    if dim is None:
        flat = reshape(x, (-1,))
        values, _ = sort(flat)
        return values[(flat.shape[0] - 1) // 2]
    axis = normalize_axis(dim, x.ndim, "median")
    values, indices = sort(x, axis)
    k = (x.shape[axis] - 1) // 2
    values, indices = narrow(values, axis, k, 1), narrow(indices, axis, k, 1)
    if not keepdim:
        values, indices = squeeze(values, axis), squeeze(indices, axis)
    return MedianResult(values, indices)


@tensor_method()
def aminmax(x, *, dim=None, keepdim: bool = False):
    return AminmaxResult(x.amin(dim, keepdim=keepdim), x.amax(dim, keepdim=keepdim))


# ---------------------------------------------------------------------- value-shaped
def _values(x: Tensor, op: str) -> np.ndarray:
    if x._value is None:
        raise TracingError(f"{op}: its result's shape depends on the values, which a compiled "
                           "plan cannot have; use a mask with gg.where, or call it outside "
                           "the compiled step", op=op, source=user_source())
    return x.numpy()


@tensor_method()
def nonzero(x, *, as_tuple: bool = False):
    where = np.nonzero(_values(x, "nonzero"))
    dev = x._backend.name
    if as_tuple:
        return tuple(tensor(w.astype(np.int64), device=dev) for w in where)
    return tensor(np.stack(where, -1).astype(np.int64).reshape(-1, x.ndim), device=dev)


@tensor_method()
def argwhere(x) -> Tensor:
    return nonzero(x)


@tensor_method()
def masked_select(x, mask) -> Tensor:
    """The elements where `mask` (broadcast) is True, as a 1-D tensor (differentiable)."""
    _values(mask if isinstance(mask, Tensor) else x, "masked_select")
    if getattr(mask, "dtype", None) != dtypes.bool_:  # (an integer mask indexed by position)
        raise DtypeError(f"masked_select: expected a bool mask, got "
                         f"{getattr(mask, 'dtype', type(mask).__name__)}", op="masked_select",
                         source=user_source())
    try:
        shape = np.broadcast_shapes(x.shape, tuple(mask.shape))
    except ValueError:
        raise ShapeError(f"masked_select: mask of shape {tuple(mask.shape)} does not broadcast "
                         f"with the tensor's {x.shape}", op="masked_select",
                         source=user_source()) from None
    return x.expand(*shape)[mask.expand(*shape)]


@tensor_method()
def unique(x, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim=None):
    if dim is not None:
        values, inverse, counts = np.unique(_values(x, "unique"), return_inverse=True,
                                            return_counts=True, axis=dim)
    else:
        values, inverse, counts = np.unique(_values(x, "unique"), return_inverse=True,
                                            return_counts=True)
        inverse = inverse.reshape(x.shape)
    dev = x._backend.name
    out = [tensor(values, dtype=x.dtype, device=dev)]
    if return_inverse:
        out.append(tensor(inverse.astype(np.int64), device=dev))
    if return_counts:
        out.append(tensor(counts.astype(np.int64), device=dev))
    return out[0] if len(out) == 1 else tuple(out)


@tensor_method()
def bincount(x, weights=None, minlength: int = 0) -> Tensor:
    w = None if weights is None else _values(weights, "bincount")
    counts = np.bincount(_values(x, "bincount"), weights=w, minlength=minlength)
    dtype = dtypes.int64 if w is None else weights.dtype
    return tensor(counts, dtype=dtype, device=x._backend.name)
