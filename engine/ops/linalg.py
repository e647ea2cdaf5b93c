"""matmul: 1-D, 2-D and batched with broadcasting, NumPy's rules."""

from __future__ import annotations

from ..creation import as_tensor
from ..errors import ShapeError
from ..source import user_source
from ..tensor import Tensor, tensor_method
from .common import (
    Sample,
    broadcast_shapes,
    promote,
    promote_float,
    rand_array,
    same_dtype,
    tangent_sum,
    unbroadcast,
)
from .elementwise import abs as abs_
from .elementwise import relu, where
from .reduction import amax, amin
from .reduction import sum as sum_
from .registry import Op, saves_others
from .shape import broadcast_to, reshape, transpose

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
    # shapes only, up front: the operand whose gradient is taken was not saved (it may
    # be a value-less shell, see nodes._held), so only the other one is ever read
    a2 = a.shape if a.ndim > 1 else (1,) + a.shape
    b2 = b.shape if b.ndim > 1 else b.shape + (1,)
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    g2 = reshape(g, batch + (a2[-2], b2[-1]))
    # Deferred: the autodiff calls these only for inputs that need a gradient.
    return (lambda: reshape(unbroadcast(matmul_op(g2, transpose(reshape(b, b2), -1, -2)), a2),
                            a.shape),
            lambda: reshape(unbroadcast(matmul_op(transpose(reshape(a, a2), -1, -2), g2), b2),
                            b.shape))


matmul_op.infer = _matmul_infer
matmul_op.document(
    "x @ y (NumPy's matmul: a 1-d x is a row, a 1-d y a column, both then dropped from the "
    "result; leading batch dims broadcast)",
    result="batch dims broadcast, then x's rows and y's columns; their dtype (one dtype)")
matmul_op.vjp = _matmul_vjp
matmul_op.saves = saves_others
matmul_op.jvp = lambda t, out, a, b: tangent_sum(
    None if t[0] is None else matmul_op(t[0], b), None if t[1] is None else matmul_op(a, t[1]))
matmul_op.samples = lambda: [
    Sample((rand_array(a), rand_array(b, seed=1)), diff=(0, 1))
    for a, b in [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((0, 4), (4, 3))]]


@tensor_method()
def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules for 1-D operands and batch broadcasting.

    A stack of matrices times one matrix (a Linear layer on (batch, time, features)) is
    one GEMM over the flattened rows, not one per batch entry: NumPy's batched matmul
    would run 32 small GEMMs, and the weight's gradient would be 32 partial products
    summed afterwards (~3x slower together).
    """
    a, b = promote(a, b)
    if a.ndim > 2 and b.ndim == 2 and a.shape[-1] == b.shape[0]:
        rows = reshape(a, (-1, a.shape[-1]))
        return reshape(matmul_op(rows, b), a.shape[:-1] + (b.shape[-1],))
    return matmul_op(a, b)


Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
tensor_method("mm")(matmul)
tensor_method("bmm")(matmul)


@tensor_method()
def dot(a, b) -> Tensor:
    """The inner product of two 1-D tensors (PyTorch refuses other ranks: use matmul)."""
    a, b = (t if isinstance(t, Tensor) else as_tensor(t) for t in (a, b))
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"dot: 1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors",
                         op="dot", source=user_source())
    return matmul(a, b)


@tensor_method()
def vdot(a, b) -> Tensor:
    """dot of the complex conjugate of a with b: dot, for real tensors."""
    return dot(a, b)


# ---------------------------------------------------------------------- einsum

einsum_op = Op("einsum")


def _parse(equation: str, n: int) -> tuple[list[str], str]:
    """(input subscripts, output subscripts) of an explicit or implicit equation."""
    eq = equation.replace(" ", "")
    if "." in eq:
        raise ShapeError(f"einsum: ellipsis is not supported in {equation!r}", op="einsum")
    lhs, _, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != n:
        raise ShapeError(f"einsum: {equation!r} names {len(ins)} operands, got {n}", op="einsum")
    if "->" not in eq:
        letters = "".join(ins)
        rhs = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    stray = [c for c in rhs if c not in lhs or rhs.count(c) > 1]
    if stray or not all(c.isalpha() for c in lhs.replace(",", "") + rhs):
        raise ShapeError(f"einsum: {equation!r}: every output subscript must be a letter of "
                         f"the inputs, once" + (f" ({stray[0]!r} is not)" if stray else ""),
                         op="einsum")
    return ins, rhs


def _einsum_infer(*xs, equation):
    ins, out = _parse(equation, len(xs))
    sizes = {}
    for sub, x in zip(ins, xs):
        if len(sub) != x.ndim:
            raise ShapeError(f"einsum: subscripts {sub!r} for an operand of shape {x.shape}",
                             op="einsum")
        for c, s in zip(sub, x.shape):
            if sizes.setdefault(c, s) != s:
                raise ShapeError(f"einsum: index {c!r} has sizes {sizes[c]} and {s} in "
                                 f"{equation!r}", op="einsum")
    return tuple(sizes[c] for c in out), same_dtype("einsum", *xs)


def _einsum_vjp(g, out, *xs, equation):
    ins, rhs = _parse(equation, len(xs))
    grads = []
    for i, (sub, x) in enumerate(zip(ins, xs)):
        if len(set(sub)) != len(sub):
            raise ShapeError(f"einsum: no gradient for a repeated index in {sub!r}",
                             op="einsum")
        others = [(s, t) for j, (s, t) in enumerate(zip(ins, xs)) if j != i]
        seen = set(rhs).union(*[set(s) for s, _ in others])
        kept = "".join(c for c in sub if c in seen)
        eq = ",".join([rhs] + [s for s, _ in others]) + "->" + kept
        grad = einsum_op(g, *[t for _, t in others], equation=eq)
        if kept != sub:  # indices summed within this operand alone: broadcast back
            grad = broadcast_to(reshape(grad, tuple(s if c in seen else 1 for c, s in
                                                    zip(sub, x.shape))), x.shape)
        grads.append(grad)
    return tuple(grads)


einsum_op.infer = _einsum_infer
einsum_op.document(
    "Einstein summation, np.einsum(equation, *xs): each operand's subscripts name its axes, "
    "letters shared between operands are multiplied, letters missing from the output are "
    "summed; a new array, also where NumPy returns a view (a pure transpose or diagonal "
    "such as 'ij->ji' or 'ii->i')", operands=("*xs",),
    result="the output subscripts' sizes, in their order (() when empty); the operands' "
           "one dtype",
    equation="str: 'ij,jk->ik' with no spaces and no ellipsis, one letter per operand axis; "
             "implicit (no '->'): the output is the letters used once, sorted")
einsum_op.vjp = _einsum_vjp
# each needed operand's gradient reads the other operands (PyTorch's bmm/mul saves)
einsum_op.saves = lambda need: tuple(j for j in range(len(need)) if any(
    need[i] for i in range(len(need)) if i != j))
einsum_op.jvp = lambda t, out, *xs, equation: tangent_sum(*[
    None if tx is None else einsum_op(*xs[:i], tx, *xs[i + 1:], equation=equation)
    for i, tx in enumerate(t)])
einsum_op.samples = lambda: [
    Sample((rand_array((2, 3)), rand_array((3, 4), seed=1)), {"equation": "ij,jk->ik"},
           diff=(0, 1)),
    Sample((rand_array((2, 3, 4)), rand_array((2, 4, 5), seed=1)),
           {"equation": "bij,bjk->bik"}, diff=(0, 1)),
    Sample((rand_array((3, 4)),), {"equation": "ij->j"}),
    Sample((rand_array((3, 4)),), {"equation": "ij->ji"}, note="a pure transpose"),
    Sample((rand_array((3, 4)), rand_array((4,), seed=1)), {"equation": "ij,j->"},
           diff=(0, 1)),
    Sample((rand_array((2, 3)), rand_array((4,), seed=1)), {"equation": "ij,k->ikj"},
           diff=(0, 1))]


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation (`"bij,bjk->bik"`); gradients are einsums too."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    equation = equation.replace(" ", "")
    operands = promote(*operands)
    ins, _ = _parse(equation, len(operands))
    sizes: dict[str, int] = {}
    for sub, x in zip(ins, operands):
        for c, n in zip(sub, x.shape):
            sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]
    # a letter of size 1 in one operand and n in another broadcasts, as in torch
    operands = [x.expand(*[sizes[c] for c in sub]) if len(sub) == x.ndim and any(
        n != sizes[c] for c, n in zip(sub, x.shape)) else x for sub, x in zip(ins, operands)]
    return einsum_op(*operands, equation=equation)


# ---------------------------------------------------------------------- norms

def vector_norm(x, ord=2, dim=None, keepdim: bool = False) -> Tensor:
    """The p-norm of `x`'s entries over `dim` (all when None): sum(|x|^p)^(1/p), with
    p = inf / -inf the largest / smallest |x| and p = 0 the count of non-zeros."""
    (x,) = promote_float(x)
    if ord == 2:
        return _root(sum_(x * x, dim, keepdim), 2)
    a = abs_(x)
    if ord == float("inf"):
        return amax(a, dim, keepdim)
    if ord == float("-inf"):
        return amin(a, dim, keepdim)
    if ord == 0:
        return sum_((a != 0).astype(x.dtype), dim, keepdim)
    if ord == 1:
        return sum_(a, dim, keepdim)
    return _root(sum_(a ** ord, dim, keepdim), ord)


def _root(total: Tensor, p) -> Tensor:
    """total ** (1/p), whose gradient is 0 where total is 0 (a norm of zeros, such as a
    padded row: PyTorch's norm backward gives 0 there, and F.normalize 1/eps), where the
    chain rule through the root would give 0 * inf = NaN. The root is taken of 1 there
    (no infinite slope, no warning), the select puts the 0 back, and relu, whose
    gradient is 0 at 0, is the last op: like torch's norm, it saves its result."""
    zero = total == 0
    safe = where(zero, 1.0, total)
    root = safe.sqrt() if p == 2 else safe ** (1.0 / p)
    return relu(where(zero, 0.0, root))


@tensor_method()
def norm(x, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """torch.norm: the Frobenius norm by default, else the vector p-norm over `dim`."""
    if dtype is not None:
        x = x.astype(dtype)
    if p in ("fro", None):
        p = 2
    if isinstance(p, str):
        raise ShapeError(f"norm: p={p!r} is not supported (use 'fro' or a number)", op="norm")
    return vector_norm(x, p, dim, keepdim)
