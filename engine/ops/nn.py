"""Ops for neural networks: softmax, log_softmax, gather, one_hot, check_index.

softmax and log_softmax are primitives (not compositions) so they stay numerically
stable for large logits and have short, exact VJPs.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..creation import as_tensor
from ..errors import ShapeError, TracingError
from ..source import user_source
from ..tensor import Tensor, tensor_method
from .common import Sample, linear_jvp, normalize_axis, promote_float, rand_array
from .registry import RESULT, Op, saves


def _softmax_samples():
    return [Sample((rand_array((3, 5)) * 3,), {"axis": 1}),
            Sample((rand_array((2, 3, 4)),), {"axis": 0}),
            Sample((rand_array((4,)),), {"axis": 0}),
            Sample((np.array([[1000.0, 0.0, -1000.0]]),), {"axis": 1}, diff=(),
                   note="large logits")]


softmax_op = Op("softmax")
softmax_op.infer = lambda x, axis: (x.shape, x.dtype)
softmax_op.document("e ** x / sum(e ** x) along axis, stable for large x (subtract the max)",
                    result="x's shape and dtype",
                    axis="int: the axis normalized over, non-negative")
softmax_op.vjp = lambda g, out, x, axis: (out * (g - (g * out).sum(axis, keepdim=True)),)
softmax_op.jvp = lambda t, out, x, axis: out * (t[0] - (t[0] * out).sum(axis, keepdim=True))
softmax_op.samples = _softmax_samples
softmax_op.saves = saves(RESULT)

log_softmax_op = Op("log_softmax")
log_softmax_op.infer = lambda x, axis: (x.shape, x.dtype)
log_softmax_op.document("x - log(sum(e ** x)) along axis, stable for large x",
                        result="x's shape and dtype",
                        axis="int: the axis normalized over, non-negative")
log_softmax_op.vjp = lambda g, out, x, axis: (g - out.exp() * g.sum(axis, keepdim=True),)
log_softmax_op.jvp = lambda t, out, x, axis: t[0] - (out.exp() * t[0]).sum(axis, keepdim=True)
log_softmax_op.samples = _softmax_samples
log_softmax_op.saves = saves(RESULT)


@tensor_method()
def softmax(x, dim: int = -1) -> Tensor:
    (x,) = promote_float(x)
    if x.ndim == 0:  # dim 0 / -1 of a 0-d tensor is the tensor itself: softmax is 1
        return softmax(x.reshape(1), dim).reshape(())
    return softmax_op(x, axis=normalize_axis(dim, x.ndim, "softmax"))


@tensor_method()
def log_softmax(x, dim: int = -1) -> Tensor:
    (x,) = promote_float(x)
    if x.ndim == 0:
        return log_softmax(x.reshape(1), dim).reshape(())
    return log_softmax_op(x, axis=normalize_axis(dim, x.ndim, "log_softmax"))


gather_op = Op("gather")
gather_backward_op = Op("gather_backward")


def _gather_infer(x, idx, axis):
    if idx.dtype.kind not in "iu":
        raise ShapeError(f"gather: index must be an integer tensor, got "
                         f"{dtypes.short(idx.dtype)}", op="gather")
    if idx.ndim != x.ndim or any(i > s for d, (i, s) in enumerate(zip(idx.shape, x.shape))
                                 if d != axis):
        raise ShapeError(f"gather: index of shape {idx.shape} does not fit input of shape "
                         f"{x.shape} along dim {axis}", op="gather")
    return idx.shape, x.dtype


gather_op.infer = _gather_infer
gather_op.document(
    "NumPy's take_along_axis(x, idx, axis) (PyTorch's gather): out[i][j] = x[i][idx[i][j]] "
    "for axis 1. idx is int64 with x's ndim; an index out of [0, x.shape[axis]) raises",
    operands=("x", "idx"), result="idx's shape; x's dtype",
    axis="int: the axis idx picks along, non-negative")
gather_op.vjp = lambda g, out, x, idx, axis: (
    gather_backward_op(g, idx, axis=axis, shape=x.shape), None)
gather_op.jvp = linear_jvp(gather_op)
gather_op.saves = saves(0, 1)  # PyTorch's gather saves x and the index
gather_backward_op.saves = saves(1)  # the index, never g
gather_op.samples = lambda: [
    Sample((rand_array((4, 5)), np.array([[0], [4], [2], [2]])), {"axis": 1}),
    Sample((rand_array((3, 4)), np.array([[0, 1, 2, 0], [2, 2, 1, 0]])), {"axis": 0}),
    Sample((rand_array((2, 3, 4)), np.array([[[1], [0], [3]], [[2], [2], [0]]])), {"axis": 2})]
gather_backward_op.infer = lambda g, idx, axis, shape: (tuple(shape), g.dtype)
gather_backward_op.document(
    "the VJP of gather: zeros of `shape`, with g added at the positions gather(x, idx, axis) "
    "read; repeated indices accumulate (np.add.at, never plain assignment)",
    operands=("g", "idx"), result="shape; g's dtype",
    axis="int: the axis idx picks along, non-negative",
    shape="tuple[int, ...]: the shape of gather's input x")
gather_backward_op.vjp = lambda g, out, g0, idx, axis, shape: (gather_op(g, idx, axis=axis), None)
gather_backward_op.jvp = linear_jvp(gather_backward_op)
gather_backward_op.samples = lambda: [
    Sample((rand_array((4, 1)), np.array([[0], [4], [2], [2]])), {"axis": 1, "shape": (4, 5)})]


@tensor_method()
def gather(x, dim: int, index) -> Tensor:
    """out[i][j] = x[i][index[i][j]] along `dim` (PyTorch's gather)."""
    index = as_tensor(index, like=x)
    return gather_op(x, index, axis=normalize_axis(dim, x.ndim, "gather"))


@tensor_method()
def take_along_dim(x, indices, dim: int | None = None) -> Tensor:
    """gather along `dim`; without `dim`, on the flattened tensor (PyTorch's rule)."""
    if dim is None:
        return gather(x.reshape(-1), 0, as_tensor(indices, like=x).reshape(-1))
    return gather(x, dim, indices)


check_index_op = Op("check_index", differentiable=False, view=True)
check_index_op.infer = lambda idx, op, bound: (idx.shape, idx.dtype)
check_index_op.document(
    "idx itself, once every entry is checked to lie in [0, bound); any other raises "
    "IndexError naming `op`. For functions whose indices never count from the end "
    "(embedding, index_select), where plain indexing would wrap a negative index",
    operands=("idx",), result="idx's shape and dtype (may share idx's memory)",
    op="str: the user's function, for the error", bound="int: the exclusive upper bound")
check_index_op.samples = lambda: [
    Sample((np.array([0, 3, 1]),), {"op": "embedding", "bound": 4}, diff=()),
    Sample((np.array([[2], [0]], dtype=np.int32),), {"op": "index_select", "bound": 3},
           diff=())]


def check_index(index: Tensor, bound: int, op: str) -> Tensor:
    """`index`, raising at run time (eager or compiled) if an entry is outside [0, bound)."""
    return check_index_op(index, op=op, bound=int(bound))


one_hot_op = Op("one_hot", differentiable=False)
one_hot_op.infer = lambda idx, num_classes: (idx.shape + (num_classes,), dtypes.int64)
one_hot_op.document("rows of the num_classes x num_classes identity picked by idx (int64); "
                    "an index out of [0, num_classes) raises", operands=("idx",),
                    result="idx's shape + (num_classes,); int64",
                    num_classes="int: the length of each row")
one_hot_op.samples = lambda: [Sample((np.array([0, 2, 1]),), {"num_classes": 4}, diff=())]


def one_hot(index, num_classes: int = -1) -> Tensor:
    """Rows of the identity matrix picked by integer labels (int64, like PyTorch)."""
    if num_classes < 0:
        if index._value is None:
            raise TracingError("one_hot needs num_classes while tracing (it sets the shape)",
                               op="one_hot", source=user_source())
        num_classes = int(index.numpy().max()) + 1
    return one_hot_op(index, num_classes=int(num_classes))


# ---------------------------------------------------------------------- random draws

def _random_op(name):
    op = Op(name, differentiable=False, random=True)
    op.infer = lambda shape, dtype, **_: (tuple(shape), dtype)
    return op


rand_op = _random_op("rand")
randn_op = _random_op("randn")
randint_op = _random_op("randint")
randperm_op = _random_op("randperm")
_DRAW = dict(operands=(), result="shape; dtype",
             shape="tuple[int, ...]: the result's shape",
             dtype="numpy.dtype: the result's dtype")
rand_op.document("uniform draws in [0, 1) from the backend's generator (see Backend.seed)",
                 **_DRAW)
randn_op.document("standard normal draws from the backend's generator", **_DRAW)
randint_op.document("uniform integers in [low, high) from the backend's generator",
                    low="int: the smallest value drawn", high="int: one above the largest",
                    **_DRAW)
randperm_op.document("a random permutation of 0 .. shape[0] - 1 (shape is 1-d)", **_DRAW)
