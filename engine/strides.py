"""PyTorch's strides of a view, and whether a reshape of it can stay a view.

graphgrad never lays values out in strided memory (views are functionalized, see
`views.py`), but where PyTorch's answer depends on strides the user must get PyTorch's
answer: `reshape` of a view whose strides do not allow a view copies, `view` raises,
`contiguous()` copies a non-contiguous tensor. A root tensor is contiguous; a view's
strides follow from its base's shape through its view steps (reshape, permute,
expand, basic indexing), exactly as PyTorch computes them; `view_strides` is
PyTorch's `computeStride` (aten/src/ATen/TensorUtils.cpp).
"""

from __future__ import annotations

import operator

from .tensor import Tensor


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides, in elements (PyTorch's for a new tensor)."""
    strides, step = [], 1
    for s in reversed(shape):
        strides.append(step)
        step *= max(s, 1)
    return tuple(reversed(strides))


def strides_of(t: Tensor) -> tuple[int, ...]:
    """The strides PyTorch's tensor would have: a root's are contiguous, a view's follow
    from its base through its view steps."""
    if t._base is None:
        return contiguous_strides(t.shape)
    shape = t._base.shape
    strides = contiguous_strides(shape)
    for op, attrs, _ in t._steps:
        shape, strides = _STEPS[op.name](shape, strides, attrs)
    return strides


def is_contiguous(t: Tensor) -> bool:
    """PyTorch's `is_contiguous()`: strides are row-major, ignoring size-1 dimensions
    (and anything when the tensor is empty)."""
    if 0 in t.shape:
        return True
    expected = 1
    for size, stride in zip(reversed(t.shape), reversed(strides_of(t))):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def view_strides(shape, strides, new_shape) -> tuple[int, ...] | None:
    """The strides of `new_shape` as a view of memory laid out as (shape, strides), or None
    when no view can express it (PyTorch's computeStride: a merged run of dimensions
    must be contiguous within itself)."""
    new_shape = tuple(new_shape)
    if 0 in shape or not shape:
        return contiguous_strides(new_shape)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base = strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or shape[d - 1] != 1 and strides[d - 1] != tensor_numel * chunk_base:
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk_base = strides[d - 1]
                tensor_numel = view_numel = 1
    return tuple(new_strides) if view_d == -1 else None


def _reshape(shape, strides, attrs):
    new = tuple(attrs["shape"])
    found = view_strides(shape, strides, new)
    return new, contiguous_strides(new) if found is None else found


def _permute(shape, strides, attrs):
    axes = attrs["axes"]
    return tuple(shape[a] for a in axes), tuple(strides[a] for a in axes)


def _broadcast_to(shape, strides, attrs):
    new = tuple(attrs["shape"])
    lead = len(new) - len(shape)
    kept = tuple(0 if s == 1 and n != 1 else st
                 for s, st, n in zip(shape, strides, new[lead:]))
    return new, (0,) * lead + kept


def _index(shape, strides, attrs):
    spec = attrs["spec"]
    consumed = sum(1 for item in spec if item[0] in ("int", "slice"))
    out_shape, out_strides, d = [], [], 0
    for item in spec:
        kind = item[0]
        if kind == "int":
            d += 1
        elif kind == "slice":
            start, stop, step = item[1:]
            out_shape.append(len(range(*slice(start, stop, step).indices(shape[d]))))
            out_strides.append(strides[d] * (1 if step is None else operator.index(step)))
            d += 1
        elif kind == "none":
            out_shape.append(1)
            out_strides.append(shape[d] * strides[d] if d < len(shape) else 1)
        elif kind == "ellipsis":
            k = len(shape) - consumed
            out_shape += shape[d:d + k]
            out_strides += strides[d:d + k]
            d += k
    return tuple(out_shape) + tuple(shape[d:]), tuple(out_strides) + tuple(strides[d:])


_STEPS = {"reshape": _reshape, "permute": _permute, "broadcast_to": _broadcast_to,
          "index": _index}
