"""matmul: 1-D, 2-D and batched with broadcasting, NumPy's rules."""

from __future__ import annotations

from ..errors import ShapeError
from ..tensor import Tensor, tensor_method
from .common import (
    Sample,
    broadcast_shapes,
    promote,
    rand_array,
    same_dtype,
    tangent_sum,
    unbroadcast,
)
from .registry import Op

matmul_op = Op("matmul")


def _matmul_infer(a, b):
    dt = same_dtype("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must have at least 1 dim, got shapes {a.shape} and "
                         f"{b.shape}", op="matmul")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit "
                         f"({k_a} != {k_b} in the contracted dim)", op="matmul")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2], op="matmul")
    m = () if a.ndim == 1 else (a.shape[-2],)
    n = () if b.ndim == 1 else (b.shape[-1],)
    return batch + m + n, dt


def _matmul_vjp(g, out, a, b):
    from .shape import reshape, transpose

    a2 = a if a.ndim > 1 else reshape(a, (1,) + a.shape)
    b2 = b if b.ndim > 1 else reshape(b, b.shape + (1,))
    batch = broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    g2 = reshape(g, batch + (a2.shape[-2], b2.shape[-1]))
    # Deferred: the autodiff calls these only for inputs that need a gradient.
    return (lambda: reshape(unbroadcast(matmul_op(g2, transpose(b2, -1, -2)), a2.shape), a.shape),
            lambda: reshape(unbroadcast(matmul_op(transpose(a2, -1, -2), g2), b2.shape), b.shape))


matmul_op.infer = _matmul_infer
matmul_op.document(
    "x @ y (NumPy's matmul: a 1-d x is a row, a 1-d y a column, both then dropped from the "
    "result; leading batch dims broadcast)",
    result="batch dims broadcast, then x's rows and y's columns; their dtype (one dtype)")
matmul_op.vjp = _matmul_vjp
matmul_op.jvp = lambda t, out, a, b: tangent_sum(
    None if t[0] is None else matmul_op(t[0], b), None if t[1] is None else matmul_op(a, t[1]))
matmul_op.samples = lambda: [
    Sample((rand_array(a), rand_array(b, seed=1)), diff=(0, 1))
    for a, b in [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((0, 4), (4, 3))]]


@tensor_method()
def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules for 1-D operands and batch broadcasting."""
    return matmul_op(*promote(a, b))


Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
tensor_method("mm")(matmul)
tensor_method("bmm")(matmul)


@tensor_method()
def dot(a, b) -> Tensor:
    return matmul(a, b)
