"""index_put: `x[index] = v` out of place, the op behind setitem with index tensors.

Where an index repeats, NumPy's assignment keeps the last value written, as PyTorch's
CPU kernel does (PyTorch calls the order undefined; averaging them, or adding them up,
would give a value nobody assigned). The gradient follows PyTorch's index_put: x's is
g with the written region zeroed; v's is g read back at the index, for every occurrence
of a repeated index.
"""

from __future__ import annotations

import numpy as np

from ..creation import engine_constant
from ..errors import ShapeError
from .common import Sample, broadcast_shapes, rand_array, unbroadcast
from .registry import Op
from .shape import _SPEC, _index_infer, index_op

index_put_op = Op("index_put")


def _infer(x, v, *idx, spec):
    target, _ = _index_infer(x, *idx, spec=spec)
    if broadcast_shapes(v.shape, target, op="index_put") != tuple(target):
        raise ShapeError(f"index_put: shape mismatch: value tensor of shape {list(v.shape)} "
                         f"cannot be broadcast to indexing result of shape {list(target)}",
                         op="index_put")
    if v.dtype != x.dtype:
        raise ShapeError(f"index_put: the value's dtype {v.dtype} is not x's {x.dtype}",
                         op="index_put")
    return x.shape, x.dtype


def _vjp(g, out, x, v, *idx, spec):
    zero = engine_constant(0, like=g)
    gx = index_put_op(g, zero, *idx, spec=spec)
    gv = unbroadcast(index_op(g, *idx, spec=spec), v.shape)
    return (gx, gv) + (None,) * len(idx)


def _jvp(tangents, out, x, v, *idx, spec):
    tx, tv = tangents[:2]
    if tx is None and tv is None:
        return None
    tx = engine_constant(np.zeros(x.shape), like=out) if tx is None else tx
    tv = engine_constant(0, like=out) if tv is None else tv
    return index_put_op(tx, tv, *idx, spec=spec)


index_put_op.infer = _infer
index_put_op.vjp = _vjp
index_put_op.jvp = _jvp
index_put_op.saves = lambda need: tuple(range(2, len(need)))  # the index arrays only
index_put_op.document(
    "a copy of x with x[index] = v (v broadcast to x[index]'s shape); where an index "
    "repeats, the last value written stays (NumPy's assignment order)",
    operands=("x", "v", "*idx"), result="x's shape and dtype", spec=_SPEC)
index_put_op.samples = lambda: [
    Sample((rand_array((5, 3)), rand_array((3, 3)), np.array([4, 0, 2])),
           {"spec": (("tensor",),)}),
    Sample((rand_array((4, 5)), rand_array(()), np.array([[0, 3], [3, 1]]),
            np.array([4, 0])), {"spec": (("tensor",), ("tensor",))},
           note="broadcast value and index arrays"),
    Sample((rand_array((3, 4)), rand_array((2,)), np.array([1, 1])),
           {"spec": (("slice", None, 2, None), ("tensor",))}, diff=(0,),
           note="a repeated index: the last write stays"),
]
