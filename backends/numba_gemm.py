"""GEMMs for the Numba backend's whole-plan functions, on NumPy's own OpenBLAS.

Numba's `np.dot` calls SciPy's OpenBLAS, a second BLAS with a thread pool of its own.
OpenBLAS's threads spin for a while after each GEMM, so a process that runs GEMMs
through both libraries (a Numba plan beside NumPy code, or the eager NumPy backend)
has two pools taking turns at the same cores: on the wide MLP (2 cores) a Numba step
alternating with NumPy GEMMs ran 1.45x slower, and the NumPy GEMMs too. `gemm` calls
`cblas_sgemm` / `cblas_dgemm` of NumPy's OpenBLAS instead, by symbol name: the
addresses are registered with LLVM here, so the generated code holds no address and
Numba's disk cache keeps working. Where NumPy uses another BLAS, `AVAILABLE` is False
and plans call `np.dot` (numba_plan_ops.matmul).

This module imports Numba: only the generated modules import it.
"""

from __future__ import annotations

import numpy as np
from llvmlite import binding
from numba import njit, types

from .numpy_blas import numpy_cblas_gemm

_FLAGS = {"error_model": "numpy", "cache": True}
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

for _dtype, _address in numpy_cblas_gemm().items():
    binding.add_symbol(f"graphgrad_cblas_{_dtype}_gemm", _address)


def _cblas(dtype: str):
    """cblas_?gemm with 64-bit integers; pointers pass as integers (the same registers)."""
    i32, i64, ptr, scalar = types.int32, types.int64, types.uintp, getattr(types, dtype)
    return types.ExternalFunction(
        f"graphgrad_cblas_{dtype}_gemm",
        types.void(i32, i32, i32, i64, i64, i64, scalar, ptr, i64, ptr, i64, scalar, ptr, i64))


_SGEMM, _DGEMM = _cblas("float32"), _cblas("float64")


@njit(**_FLAGS)
def _operand(x):
    """x as CBLAS reads it: the array (a C-ordered copy if x is neither C- nor
    F-ordered), whether it is read transposed, and its leading dimension."""
    if x.flags.c_contiguous:
        return x, _NO_TRANS, x.shape[1]
    if x.flags.f_contiguous:  # a transposed C-ordered matrix (a weight's .T)
        return x, _TRANS, x.shape[0]
    y = np.ascontiguousarray(x)
    return y, _NO_TRANS, y.shape[1]


@njit(**_FLAGS)
def _alive(a, b):
    """Used after the BLAS call, so that copies made by _operand outlive it."""
    return a.shape[0] + b.shape[0]


@njit(**_FLAGS)
def gemm(a, b):
    """a @ b for non-empty 2-d float32 or float64 matrices of one dtype."""
    a, ta, lda = _operand(a)
    b, tb, ldb = _operand(b)
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    out = np.empty((m, n), a.dtype)
    if a.itemsize == 4:  # float32 (the other branch: float64)
        _SGEMM(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb,
               0.0, out.ctypes.data, n)
    else:
        _DGEMM(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb,
               0.0, out.ctypes.data, n)
    _alive(a, b)
    return out
