"""softmax and log_softmax on NumPy, shifted by the whole array's max where that is exact.

NumPy reduces short rows one at a time, ~10x slower than one contiguous reduction, so
the shift by each row's max (the textbook form) is taken only where a shift by the
array's max would lose precision; a loss's short rows of logits are normalized in a
transposed copy.
"""

from __future__ import annotations

import numpy as np

from .numpy_gemv_sum import FLOATS, ones_vector, sum_kernel

#: A row sum of exp(x - M) above this keeps full precision: its largest term is then far
#: above the float32 subnormals, and terms small enough to underflow are below its eps.
SHIFT_SUM_MIN = 1e-17


def _shifted_exp(x, axis):
    """(x - M, exp(x - M), row sums of the latter) with M the max over the whole array
    (one fast contiguous reduction; NumPy reduces short rows one at a time, ~10x slower)
    when every row sum stays above SHIFT_SUM_MIN, else with M each row's own max, the
    textbook shift (rows far below the array's max, NaN, Inf, empty arrays)."""
    if x.size:
        shifted = np.subtract(x, np.maximum.reduce(x, axis=None))
        e = np.exp(shifted)
        total = sum_kernel(e, (axis,), True)
        if np.minimum.reduce(total, axis=None) > SHIFT_SUM_MIN:
            return shifted, e, total
    shifted = np.subtract(x, np.maximum.reduce(x, axis=axis, keepdims=True))
    e = np.exp(shifted)
    return shifted, e, sum_kernel(e, (axis,), True)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """The `softmax` kernel (see the module docstring for the shift)."""
    _, e, total = _shifted_exp(x, axis)
    return np.divide(e, total, out=e)


SHORT_ROWS = 32  # rows this short are normalized in a transposed copy (a loss's logits)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """The `log_softmax` kernel: short rows of a 2-d float array in a transposed copy."""
    if x.ndim == 2 and axis in (1, -1) and x.dtype in FLOATS and x.shape[1] <= SHORT_ROWS:
        return _log_softmax_short_rows(x)
    shifted, _, total = _shifted_exp(x, axis)
    return np.subtract(shifted, np.log(total, out=total), out=shifted)


def _log_softmax_short_rows(x):
    """log_softmax over short rows, computed on the transpose: NumPy reduces a row of 10
    logits one short inner loop at a time, but the transpose's columns in a few long
    vectorized passes (~1.5x faster for a 64x10 batch, with the same arithmetic)."""
    t = x.T.copy()  # (classes, batch), C-contiguous
    np.subtract(t, np.maximum.reduce(t, axis=0), out=t)
    log_sum = ones_vector(t.shape[0], t.dtype) @ np.exp(t)  # the sum over classes as a GEMV
    np.subtract(t, np.log(log_sum, out=log_sum), out=t)
    return t.T.copy()
