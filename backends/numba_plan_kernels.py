"""Numba helpers the generated whole-plan functions call (numba_plan.py).

Some are the loop a NumPy kernel runs for one common case of an op (a loss picking each
row's label, a batch drawn by index, log_softmax over short rows); indices are checked
against their bounds and raise IndexError as the NumPy backend does (Numba itself does
not check them, and a wrong index would read memory). The others only wrap a NumPy
function Numba implements (`np.empty`, `np.dot`, ...): compiling Numba's implementation
for each new signature took most of a plan's first compile (0.3-1.5 s each), and a
helper with `cache=True` compiles it once per machine and signature, so every plan
after the first links the cached code.

This module imports Numba: only the generated modules import it.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.linalg import ensure_blas

_FLAGS = {"error_model": "numpy", "cache": True}
ensure_blas()  # `gemm` calls SciPy's BLAS, as Numba's np.dot does


@njit(**_FLAGS)
def array0(value, dtype):
    """A 0-d array holding `value` (a result the plan returns or writes to state)."""
    out = np.empty((), dtype)
    out[()] = value
    return out


@njit(**_FLAGS)
def empty(shape, dtype):
    return np.empty(shape, dtype)


@njit(**_FLAGS)
def empty_poisoned(shape, dtype):
    """`empty` with every byte 0xFF (floats NaN, integers -1): what the tests allocate
    instead, so that a buffer read before it is written shows in the results (np.empty
    often hands out zeroed pages, which hide such a read)."""
    out = np.empty(shape, dtype)
    out.reshape(-1).view(np.uint8)[:] = 255
    return out


@njit(**_FLAGS)
def zeros(shape, dtype):
    return np.zeros(shape, dtype)


@njit(**_FLAGS)
def full(shape, value, dtype):
    return np.full(shape, value, dtype)


@njit(**_FLAGS)
def dot(a, b):
    return np.dot(a, b)


_BLAS_KINDS = {types.float32: ord("s"), types.float64: ord("d")}
_CHAR, _VOID_P = ir.IntType(8), ir.IntType(8).as_pointer()


@intrinsic
def _xxgemm(typingctx, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc):
    """Column-major C (m x n) = op(A) @ op(B) through Numba's `numba_xxgemm` (SciPy's
    BLAS, as np.dot in Numba), for float32/float64 arrays: returns BLAS's status."""
    if c.dtype not in _BLAS_KINDS:
        return None
    sig = types.intc(types.int64, types.int64, types.intp, types.intp, types.intp, a,
                     types.intp, b, types.intp, c, types.intp)

    def codegen(context, builder, signature, args):
        ta, tb, m_, n_, k_, av, lda_, bv, ldb_, cv, ldc_ = args
        intp = cgutils.intp_t
        fnty = ir.FunctionType(ir.IntType(32), [_CHAR, _CHAR, _CHAR, intp, intp, intp,
                                                _VOID_P, _VOID_P, intp, _VOID_P, intp,
                                                _VOID_P, _VOID_P, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        dtype = signature.args[-2].dtype
        one = cgutils.alloca_once_value(builder, context.get_constant(dtype, 1.0))
        zero = cgutils.alloca_once_value(builder, context.get_constant(dtype, 0.0))

        def data(ty, value):
            return builder.bitcast(context.make_array(ty)(context, builder, value).data,
                                   _VOID_P)

        a_ty, b_ty, c_ty = signature.args[5], signature.args[7], signature.args[9]
        return builder.call(fn, (
            ir.Constant(_CHAR, _BLAS_KINDS[dtype]), builder.trunc(ta, _CHAR),
            builder.trunc(tb, _CHAR), m_, n_, k_, builder.bitcast(one, _VOID_P),
            data(a_ty, av), lda_, data(b_ty, bv), ldb_, builder.bitcast(zero, _VOID_P),
            data(c_ty, cv), ldc_))

    return sig, codegen


@njit(inline="always")
def _blas_operand(x):
    """(x or a C-contiguous copy, its BLAS transpose flag for a C-ordered product, its
    leading dimension): a C array is used as it is ('n'), an F array (a transposed C
    array, `w.T`) too ('t'), anything else is copied."""
    item = x.itemsize
    if x.strides[1] == item and x.strides[0] == x.shape[1] * item:
        return x, ord("n"), x.shape[1]
    if x.strides[0] == item and x.strides[1] == x.shape[0] * item:
        return x, ord("t"), x.shape[0]
    return np.ascontiguousarray(x), ord("n"), x.shape[1]


@njit(**_FLAGS)
def gemm(a, b):
    """a @ b for 2-d float32/float64 matrices, one BLAS GEMM with no copy of a C or F
    operand (np.dot in Numba compiles ~4x longer, once per layout). In column-major
    terms the C-ordered product is b.T @ a.T, so b goes first."""
    m, k = a.shape
    n = b.shape[1]
    out = np.empty((m, n), a.dtype)
    if k == 0 or m == 0 or n == 0:
        out[:] = 0
        return out
    x, ta, lda = _blas_operand(a)
    y, tb, ldb = _blas_operand(b)
    if _xxgemm(tb, ta, n, m, k, y, ldb, x, lda, out, n) != 0:
        raise RuntimeError("matmul: SciPy's BLAS GEMM is unavailable to Numba")
    return out


@njit(**_FLAGS)
def contiguous(x):
    return np.ascontiguousarray(x)


@njit(**_FLAGS)
def concatenate(arrays, axis):
    return np.concatenate(arrays, axis=axis)


@njit(**_FLAGS)
def take_rows(x, idx):
    """x[idx] for a 1-d integer idx: rows of x drawn by index (a batch)."""
    n = x.shape[0]
    out = np.empty((idx.shape[0],) + x.shape[1:], x.dtype)
    for k in range(idx.shape[0]):
        j = idx[k]
        if j < 0 or j >= n:
            raise IndexError("index: an index is out of bounds")
        out[k] = x[j]
    return out


@njit(**_FLAGS)
def add_rows(out, idx, g):
    """out[idx] += g for a 1-d integer idx, repeated indices adding up (np.add.at)."""
    n = out.shape[0]
    for k in range(idx.shape[0]):
        j = idx[k]
        if j < 0 or j >= n:
            raise IndexError("index: an index is out of bounds")
        out[j] += g[k]
    return out


@njit(**_FLAGS)
def gather_rows(x, idx):
    """take_along_axis(x, idx, 1) for a 2-d x and an (n, 1) idx: each row's pick."""
    n, k = x.shape
    out = np.empty((n, 1), x.dtype)
    for i in range(n):
        j = idx[i, 0]
        if j < 0 or j >= k:
            raise IndexError("gather: an index is out of bounds")
        out[i, 0] = x[i, j]
    return out


@njit(**_FLAGS)
def gather_rows_backward(g, idx, k):
    """The gradient of gather_rows: g's values at each row's pick, zeros elsewhere."""
    n = g.shape[0]
    out = np.zeros((n, k), g.dtype)
    for i in range(n):
        j = idx[i, 0]
        if j < 0 or j >= k:
            raise IndexError("gather: an index is out of bounds")
        out[i, j] = g[i, 0]
    return out


@njit(**_FLAGS)
def log_softmax_rows(x):
    """log_softmax over the last axis of a 2-d float array, shifted by the row's max
    (as the NumPy kernel), the row's sum of exponentials accumulated in float64."""
    n, k = x.shape
    out = np.empty((n, k), x.dtype)
    for i in range(n):
        m = x[i, 0]
        for j in range(1, k):
            v = x[i, j]
            if v > m or v != v:
                m = v
        s = 0.0
        for j in range(k):
            s += np.exp(np.float64(x[i, j] - m))
        ls = np.log(s)
        for j in range(k):
            out[i, j] = (x[i, j] - m) - ls
    return out
