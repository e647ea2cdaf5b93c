"""Shape and indexing ops: reshape, permute, broadcast_to, concat, index.

Reshape, permute, broadcast_to and basic indexing are views (`Op(view=True)`): their
results share memory with their input (see engine/views.py for writes through them).
Squeeze, unsqueeze, flatten and `view` are reshapes; transpose and `.T` are permutes;
expand is broadcast_to; narrow is a slice; stack is unsqueeze + concat. As in PyTorch,
`reshape`/`flatten` of a view whose strides allow no view copy (`view` raises ViewError)
and `contiguous()` copies a non-contiguous tensor (engine/strides.py has the strides).
"""

from __future__ import annotations

import operator
import warnings

import numpy as np

from .. import dtypes
from ..creation import as_tensor
from ..errors import IndexingError, ShapeError, TracingError, ViewError
from ..source import user_source
from ..strides import is_contiguous, strides_of, view_strides
from ..tensor import Tensor, tensor_method
from .common import (
    Sample,
    broadcast_shapes,
    linear_jvp,
    normalize_axis,
    promote,
    rand_array,
    unbroadcast,
    zeros_tangent,
)
from .elementwise import identity_op
from .registry import Op, saves_none

# ---------------------------------------------------------------------- reshape

reshape_op = Op("reshape", view=True)


def _reshape_infer(x, shape):
    if int(np.prod(shape, dtype=np.int64)) != int(np.prod(x.shape, dtype=np.int64)):
        raise ShapeError(f"reshape: cannot reshape {x.shape} into {shape}", op="reshape")
    return tuple(shape), x.dtype


reshape_op.infer = _reshape_infer
reshape_op.document("x's elements in C order, in a new shape (a view where possible)",
                    result="shape; x's dtype",
                    shape="tuple[int, ...]: the new shape, fully resolved (no -1), with "
                          "x's number of elements")
reshape_op.vjp = lambda g, out, x, shape: (reshape(g, x.shape),)
reshape_op.jvp = linear_jvp(reshape_op)
reshape_op.saves = saves_none
reshape_op.samples = lambda: [Sample((rand_array((3, 4)),), {"shape": (4, 3)}),
                              Sample((rand_array((2, 3, 4)),), {"shape": (6, 4)}),
                              Sample((rand_array(()),), {"shape": (1, 1)}),
                              Sample((rand_array((0, 3)),), {"shape": (3, 0)})]


def _resolve_shape(shape, numel, given) -> tuple[int, ...]:
    try:
        shape = [operator.index(s) for s in shape]
    except TypeError:
        raise ShapeError(f"reshape: sizes must be ints, got {tuple(given)!r}", op="reshape",
                         source=user_source()) from None
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: only one dimension can be -1, got {tuple(given)}",
                         op="reshape", source=user_source())
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        if known == 0 or numel % known:
            raise ShapeError(f"reshape: cannot infer -1 in {tuple(given)} for {numel} elements",
                             op="reshape", source=user_source())
        shape[shape.index(-1)] = numel // known
    return tuple(int(s) for s in shape)


def _new_shape(x, shape) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return _resolve_shape(shape, x.numel(), shape)


def _viewable(x, shape) -> bool:
    return x._base is None or view_strides(x.shape, strides_of(x), shape) is not None


@tensor_method()
def reshape(x, *shape) -> Tensor:
    """The same elements in a new shape (one dimension may be -1): a view of x where its
    strides allow one, else a copy (PyTorch's rule, so writes reach x exactly when they
    do there)."""
    shape = _new_shape(x, shape)
    if shape == x.shape:
        return x
    return reshape_op(x if _viewable(x, shape) else identity_op(x), shape=shape)


@tensor_method()
def view(x, *shape) -> Tensor:
    """`reshape` that is always a view of x: a ViewError where x's strides allow none
    (a transposed or sliced tensor), as PyTorch's `view` refuses."""
    shape = _new_shape(x, shape)
    if shape == x.shape:
        return x
    if not _viewable(x, shape):
        raise ViewError(
            f"view: shape {shape} is not compatible with the input's shape {x.shape} and "
            f"strides {strides_of(x)} (at least one dimension spans across two contiguous "
            "subspaces); use .reshape(...) instead, which copies", op="view",
            source=user_source())
    return reshape_op(x, shape=shape)


@tensor_method()
def flatten(x, start_dim=0, end_dim=-1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = normalize_axis(start_dim, x.ndim, "flatten"), normalize_axis(end_dim, x.ndim,
                                                                         "flatten")
    if s > e:
        raise ShapeError(f"flatten: start_dim ({start_dim}) cannot come after end_dim "
                         f"({end_dim})", op="flatten", source=user_source())
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])


@tensor_method()
def squeeze(x, dim=None) -> Tensor:
    if dim is None:
        return view(x, tuple(s for s in x.shape if s != 1))
    axes = {normalize_axis(d, x.ndim, "squeeze") for d in ((dim,) if isinstance(dim, int)
                                                          else dim)}
    return view(x, tuple(s for i, s in enumerate(x.shape) if i not in axes or s != 1))


@tensor_method()
def unsqueeze(x, dim: int) -> Tensor:
    dim = dim if dim >= 0 else dim + x.ndim + 1
    if not 0 <= dim <= x.ndim:
        raise ShapeError(f"unsqueeze: dim {dim} is out of range for a {x.ndim}-d tensor",
                         op="unsqueeze", source=user_source())
    return view(x, x.shape[:dim] + (1,) + x.shape[dim:])


@tensor_method()
def contiguous(x) -> Tensor:
    """x itself when contiguous in PyTorch's sense, else a copy (so writes to the result
    reach x exactly when they do in PyTorch)."""
    return x if is_contiguous(x) else identity_op(x)


@tensor_method()
def stride(x, dim: int | None = None):
    """PyTorch's strides (in elements) of x: row-major for a tensor of its own, derived
    through the view steps for a view (engine/strides.py)."""
    s = strides_of(x)
    return s if dim is None else s[normalize_axis(dim, x.ndim, "stride")]


tensor_method("is_contiguous")(is_contiguous)


# ---------------------------------------------------------------------- permute

permute_op = Op("permute", view=True)


def _permute_infer(x, axes):
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"permute: {axes} is not a permutation of the {x.ndim} dims of "
                         f"{x.shape}", op="permute")
    return tuple(x.shape[a] for a in axes), x.dtype


permute_op.infer = _permute_infer
permute_op.document("x with its axes reordered: result axis i is x's axis axes[i] (NumPy's "
                    "transpose(x, axes); a view where possible)",
                    result="x's shape permuted; x's dtype",
                    axes="tuple[int, ...]: a permutation of range(x.ndim)")
permute_op.vjp = lambda g, out, x, axes: (permute_op(g, axes=tuple(np.argsort(axes).tolist())),)
permute_op.jvp = linear_jvp(permute_op)
permute_op.saves = saves_none
permute_op.samples = lambda: [Sample((rand_array((3, 4)),), {"axes": (1, 0)}),
                              Sample((rand_array((2, 3, 4)),), {"axes": (2, 0, 1)})]


@tensor_method()
def permute(x, *dims) -> Tensor:
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    axes = tuple(normalize_axis(d, x.ndim, "permute") for d in dims)
    return x if axes == tuple(range(x.ndim)) else permute_op(x, axes=axes)


@tensor_method()
def transpose(x, dim0=0, dim1=1) -> Tensor:
    axes = list(range(x.ndim))
    d0, d1 = normalize_axis(dim0, x.ndim, "transpose"), normalize_axis(dim1, x.ndim, "transpose")
    if x.ndim == 0:  # dims 0 / -1 of a 0-d tensor name the tensor itself (PyTorch's rule)
        return x
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return permute(x, axes)


Tensor.T = property(lambda self: permute(self, tuple(reversed(range(self.ndim)))))
Tensor.mT = property(lambda self: transpose(self, -2, -1))
def _t(x) -> Tensor:
    """x.t(): a matrix transposed; a 0-d or 1-d tensor as is; more dims refused (PyTorch)."""
    if x.ndim > 2:
        raise ShapeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D "
                         "(use .mT or .transpose(dim0, dim1))", op="t", source=user_source())
    return transpose(x, 0, 1) if x.ndim == 2 else x


Tensor.t = _t


# ---------------------------------------------------------------------- broadcast_to

broadcast_to_op = Op("broadcast_to", view=True)


def _broadcast_to_infer(x, shape):
    if broadcast_shapes(x.shape, shape, op="broadcast_to") != tuple(shape):
        raise ShapeError(f"broadcast_to: cannot broadcast {x.shape} to {tuple(shape)}",
                         op="broadcast_to")
    return tuple(shape), x.dtype


broadcast_to_op.infer = _broadcast_to_infer
broadcast_to_op.document("x broadcast to shape (np.broadcast_to; a read-only view is fine)",
                         result="shape; x's dtype",
                         shape="tuple[int, ...]: the target shape (x broadcasts to it)")
broadcast_to_op.vjp = lambda g, out, x, shape: (unbroadcast(g, x.shape),)
broadcast_to_op.jvp = linear_jvp(broadcast_to_op)
broadcast_to_op.saves = saves_none
broadcast_to_op.samples = lambda: [Sample((rand_array((3, 1)),), {"shape": (2, 3, 4)}),
                                   Sample((rand_array(()),), {"shape": (5,)}),
                                   Sample((rand_array((0, 1)),), {"shape": (2, 0, 3)})]


@tensor_method()
def broadcast_to(x, shape) -> Tensor:
    shape = tuple(int(s) for s in shape)
    if not isinstance(x, Tensor):
        x = as_tensor(x)
    return x if x.shape == shape else broadcast_to_op(x, shape=shape)


def broadcast_tensors(*tensors) -> tuple:
    """The tensors broadcast to their common shape (views, as `torch.broadcast_tensors`)."""
    tensors = [t if isinstance(t, Tensor) else as_tensor(t) for t in tensors]
    shape = broadcast_shapes(*(t.shape for t in tensors), op="broadcast_tensors")
    return tuple(broadcast_to(t, shape) for t in tensors)


@tensor_method()
def expand(x, *sizes) -> Tensor:
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    lead = len(sizes) - x.ndim
    if lead < 0 or any(s == -1 for s in sizes[:lead]):
        raise ShapeError(f"expand: the expanded size {list(sizes)} must have at least "
                         f"{x.ndim} entries, and -1 only where x has a dimension (x: "
                         f"{list(x.shape)})", op="expand", source=user_source())
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


@tensor_method()
def expand_as(x, other) -> Tensor:
    return broadcast_to(x, other.shape)


# ---------------------------------------------------------------------- concat, stack

concat_op = Op("concat")


def _concat_infer(*xs, axis):
    if not xs:
        raise ShapeError("cat: needs at least one tensor", op="cat")
    first = xs[0].shape
    if not 0 <= axis < len(first):
        raise ShapeError(f"cat: cannot join tensors of shape {first} along dim {axis}"
                         + ("; 0-d tensors need stack" if not first else ""), op="cat")
    for x in xs[1:]:
        if len(x.shape) != len(first) or any(a != b for i, (a, b) in enumerate(zip(x.shape, first))
                                             if i != axis):
            raise ShapeError(f"cat: shapes {', '.join(str(t.shape) for t in xs)} differ "
                             f"outside dim {axis}", op="cat")
    if len({x.dtype for x in xs}) != 1:
        raise ShapeError("cat: tensors must share one dtype", op="cat")
    shape = list(first)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return tuple(shape), xs[0].dtype


def _concat_vjp(g, out, *xs, axis):
    grads, start = [], 0
    for x in xs:
        stop = start + x.shape[axis]
        spec = (("slice", None, None, None),) * axis + (("slice", start, stop, None),)
        grads.append(index_op(g, spec=spec))
        start = stop
    return tuple(grads)


concat_op.infer = _concat_infer
concat_op.document("the operands joined along axis (np.concatenate); one or more operands "
                   "of one dtype, equal outside axis", operands=("*xs",),
                   result="the operands' shape with the sizes along axis added; their dtype",
                   axis="int: the axis joined along, non-negative")
concat_op.vjp = _concat_vjp
concat_op.saves = saves_none
concat_op.jvp = lambda t, out, *xs, axis: concat_op(
    *[zeros_tangent(x) if tx is None else tx for tx, x in zip(t, xs)], axis=axis)
concat_op.samples = lambda: [Sample((rand_array((2, 3)), rand_array((4, 3), seed=1)),
                                    {"axis": 0}, diff=(0, 1)),
                             Sample((rand_array((2, 1)), rand_array((2, 3), seed=1)),
                                    {"axis": 1}, diff=(0, 1)),
                             Sample((rand_array((3,)), rand_array((0,)), rand_array((2,), seed=1)),
                                    {"axis": 0}, diff=(0, 1, 2))]


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim (their dtypes are promoted together)."""
    tensors = promote(*tensors)
    if not tensors:
        raise ShapeError("cat: needs at least one tensor", op="cat", source=user_source())
    if any(t.ndim != 1 or t.shape != (0,) for t in tensors):  # PyTorch's legacy rule: an
        tensors = [t for t in tensors if t.shape != (0,)] or tensors[:1]  # empty 1-d is skipped
    axis = normalize_axis(dim, tensors[0].ndim, "cat")
    return concat_op(*tensors, axis=axis)


concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """Join tensors along a new dim."""
    return cat([unsqueeze(t, dim) for t in tensors], dim)


# ---------------------------------------------------------------------- indexing

def index_tuple(spec, arrays) -> tuple:
    """The Python index an `index` node's `spec` stands for, with `arrays` (the index
    tensors' values, in order) in the `("tensor",)` places. Backends use it as is."""
    it = iter(arrays)
    parts = []
    for item in spec:
        kind = item[0]
        if kind == "int":
            parts.append(item[1])
        elif kind == "slice":
            parts.append(slice(*item[1:]))
        elif kind == "none":
            parts.append(None)
        elif kind == "ellipsis":
            parts.append(Ellipsis)
        else:
            parts.append(next(it))
    return tuple(parts)


index_op = Op("index", view=True)
index_backward_op = Op("index_backward")


def _index_infer(x, *idx, spec):
    probe = np.broadcast_to(np.zeros((), x.dtype), x.shape)
    arrays = [np.zeros(t.shape, np.int64) for t in idx]
    try:
        return probe[index_tuple(spec, arrays)].shape, x.dtype
    except (IndexError, ValueError) as e:  # NumPy's word on the key (e.g. a zero step)
        raise ShapeError(f"index: {e} (tensor of shape {x.shape})", op="index") from None


index_op.infer = _index_infer
_SPEC = ("tuple: the index, one item per part, each ('int', i) | ('slice', start, stop, "
         "step) (None for a missing field) | ('none',) (a new axis) | ('ellipsis',) | "
         "('tensor',) (the next idx operand: int64 indices or a bool mask). "
         "graphgrad.ops.shape.index_tuple(spec, idx) rebuilds the Python index")
index_op.document("x[index] as NumPy indexes (basic indexing may return a view; integer and "
                  "mask indexing copy); an integer index out of range raises",
                  operands=("x", "*idx"), result="what NumPy's x[index] gives; x's dtype",
                  spec=_SPEC)
index_op.vjp = lambda g, out, x, *idx, spec: (
    index_backward_op(g, *idx, spec=spec, shape=x.shape),) + (None,) * len(idx)
index_op.jvp = linear_jvp(index_op)
index_op.saves = lambda need: tuple(range(1, len(need)))  # the index arrays, never x
index_op.samples = lambda: [
    Sample((rand_array((4, 5)),), {"spec": (("int", 1),)}),
    Sample((rand_array((4, 5)),), {"spec": (("slice", 1, None, 2), ("none",), ("int", -1))}),
    Sample((rand_array((2, 3, 4)),), {"spec": (("ellipsis",), ("slice", None, 2, None))}),
    Sample((rand_array((5, 3)), np.array([0, 2, 2, 4])), {"spec": (("tensor",),)},
           note="repeated indices"),
    Sample((rand_array((4, 5)), np.array([[0, 3], [3, 1]]), np.array([4, 0])),
           {"spec": (("tensor",), ("tensor",))}, note="broadcast index arrays"),
    Sample((rand_array((6,)),), {"spec": (("slice", None, None, -2),)}, note="negative step"),
    Sample((rand_array(()),), {"spec": (("none",),)}),
]
index_backward_op.infer = lambda g, *idx, spec, shape: (tuple(shape), g.dtype)
index_backward_op.document(
    "the VJP of index: zeros of `shape`, with g added at x[index]; repeated indices "
    "accumulate (np.add.at, never plain assignment)", operands=("g", "*idx"),
    result="shape; g's dtype", spec=_SPEC, shape="tuple[int, ...]: the shape of index's x")
index_backward_op.vjp = lambda g, out, g0, *idx, spec, shape: (
    index_op(g, *idx, spec=spec),) + (None,) * len(idx)
index_backward_op.jvp = linear_jvp(index_backward_op)
index_backward_op.saves = lambda need: tuple(range(1, len(need)))
index_backward_op.samples = lambda: [
    Sample((rand_array((4,)), np.array([0, 2, 2, 1])),
           {"spec": (("tensor",),), "shape": (3,)})]


def _index_spec(x, key):
    """(spec, index tensors) for `x[key]`: basic parts as attrs, integer arrays as inputs."""
    if not isinstance(key, tuple):
        key = (key,)
    spec, tensors = [], []
    for i, k in enumerate(key):
        if k is None:
            spec.append(("none",))
        elif k is Ellipsis:
            spec.append(("ellipsis",))
        elif isinstance(k, slice):
            spec.append(("slice", *(None if v is None else int(v)
                                    for v in (k.start, k.stop, k.step))))
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            spec.append(("int", int(k)))
        else:
            t = k if isinstance(k, Tensor) else as_tensor(np.asarray(k), like=x)
            if t.dtype == np.uint8 and isinstance(k, Tensor):  # torch: a mask (deprecated)
                warnings.warn("indexing with a uint8 tensor is deprecated (PyTorch too): it "
                              "is read as a mask; use a bool tensor", DeprecationWarning,
                              stacklevel=3)
                t = t.astype(dtypes.bool_)
            if t.dtype == dtypes.bool_:
                _check_mask_shape(x, key, i, t)
                _mask_to_indices(t, spec, tensors)
                continue
            if t.dtype.kind not in "iu":
                raise ShapeError(f"index: tensors used as indices must be integer or bool, "
                                 f"got {dtypes.short(t.dtype)}", op="index", source=user_source())
            spec.append(("tensor",))
            tensors.append(t)
    return tuple(spec), tensors


def _check_mask_shape(x, key, i, mask) -> None:
    """A boolean mask must match the dims it covers (PyTorch's IndexError), not be read
    as indices of its True entries whatever its length."""
    def width(k):  # how many dims of x the index entry k consumes
        if k is None or k is Ellipsis:
            return 0
        if isinstance(k, (slice, int, np.integer)) and not isinstance(k, bool):
            return 1
        if isinstance(k, Tensor):
            return k.ndim if k.dtype.kind == "b" else 1
        return np.ndim(k) if np.asarray(k).dtype.kind == "b" else 1

    if any(k is Ellipsis for k in key[:i]):
        start = x.ndim - sum(width(k) for k in key[i:])
    else:
        start = sum(width(k) for k in key[:i])
    covered = x.shape[start:start + mask.ndim]
    for j, (m, s) in enumerate(zip(mask.shape, covered)):
        if m != s:
            raise IndexingError(
                f"index: the shape of the mask {list(mask.shape)} at index {j} does not match "
                f"the shape of the indexed tensor {list(x.shape)} at index {start + j}",
                op="index", source=user_source())
    if len(covered) < mask.ndim:
        raise IndexingError(f"index: a {mask.ndim}-d mask does not fit the indexed tensor of "
                            f"shape {list(x.shape)} at dim {start}", op="index",
                            source=user_source())


def _mask_to_indices(mask, spec, tensors):
    if mask._value is None:
        raise TracingError(
            "indexing with a boolean mask gives a shape that depends on the data, which a "
            "traced graph cannot have; use gg.where(mask, x, 0) or multiply by the mask",
            op="index", source=user_source())
    for idx in np.nonzero(mask.numpy()):
        spec.append(("tensor",))
        tensors.append(as_tensor(idx.astype(np.int64), like=mask))


@tensor_method()
def narrow(x, dim: int, start: int, length: int) -> Tensor:
    """Elements start..start+length-1 along dim: a view, as in PyTorch."""
    d = normalize_axis(dim, x.ndim, "narrow")
    size = x.shape[d]
    start = start + size if start < 0 else start
    if not (0 <= start and length >= 0 and start + length <= size):
        raise ShapeError(f"narrow: start {start} and length {length} do not fit dim {d} of "
                         f"size {size}", op="narrow", source=user_source())
    spec = (("slice", None, None, None),) * d + (("slice", start, start + length, None),)
    return index_op(x, spec=spec)


def getitem(x, key) -> Tensor:
    flag = bool_key(key)
    if flag is not None:  # x[True]: x with a new dim of 1; x[False]: of 0 (PyTorch)
        return x.unsqueeze(0) if flag else narrow(x.unsqueeze(0), 0, 0, 0)
    spec, tensors = _index_spec(x, key)
    split = split_ints(spec)
    if split is not None:
        return index_op(index_op(x, spec=split[0]), *tensors, spec=split[1])
    return index_op(x, *tensors, spec=spec)


_FULL = ("slice", None, None, None)


def bool_key(key) -> bool | None:
    """The value of a key that is one bool (`True`, a 0-d bool tensor), else None."""
    if isinstance(key, (bool, np.bool_)):
        return bool(key)
    if isinstance(key, Tensor) and key.ndim == 0 and key.dtype == dtypes.bool_:
        return bool(key.item())  # (a traced one raises: data-dependent shape)
    return None


def split_ints(spec) -> tuple | None:
    """For a key mixing integers and index tensors: (its basic part, the rest applied to
    that), else None. PyTorch applies the integers first (a select: `x[0, :, [1, 2]]` is
    `x[0][:, [1, 2]]`, of shape (3, 2) for a (2, 3, 4) x); NumPy counts an integer as an
    index array, which moves the indexed dims to the front when a slice separates them
    (shape (2, 3))."""
    kinds = {item[0] for item in spec}
    if "int" not in kinds or "tensor" not in kinds:
        return None
    first = tuple(_FULL if item[0] == "tensor" else item for item in spec)
    rest = tuple(_FULL if item[0] in ("slice", "none") else item
                 for item in spec if item[0] != "int")
    return first, rest


Tensor.__getitem__ = getitem
