"""Sums over the leading or the trailing dims of an N-d float array as one GEMV.

NumPy reduces short contiguous rows slowly: the sum over the last dim of a (32, 64, 128)
activation (a LayerNorm's mean and variance) or over the leading dims of a (32, 64, 512)
gradient (a Linear layer's bias gradient) runs 2-6x faster as the 2-d matrix it is
times a vector of ones (measured here: 0.077 vs 0.019 ms, 0.14 vs 0.075 ms). `gemv_sum`
takes the 2-d cases, per-channel sums of (N, C, *spatial) arrays, and any rank where the
summed dims form one block at either end, so the matrix is a free reshape of a
C-contiguous array (any other layout is reduced by np.add.reduce); `full_sum` sums a
short array whole as a dot product.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from .numpy_blas import one_thread_dot, switch


def end_block_sum(shape: tuple[int, ...], dtype, axis: tuple[int, ...], keepdims: bool,
                  ones: Callable, longest: int) -> Callable | None:
    """A kernel summing a C-contiguous array of `shape` over `axis` as x2 @ ones or
    ones @ x2 (x2 the free 2-d reshape), or None where `axis` is not a block of leading
    or trailing dims or the summed length is not in 1..`longest`. `ones(n, dtype)`
    gives the vector of ones. Not for sums of every dim."""
    if axis is None or not 0 < len(axis) < len(shape):  # a sum of everything stays
        return None                                     # NumPy's (a NumPy scalar)
    nd, k = len(shape), len(axis)
    if axis == tuple(range(nd - k, nd)):
        trailing = True
    elif axis == tuple(range(k)):
        trailing = False
    else:
        return None
    summed = math.prod(shape[nd - k:]) if trailing else math.prod(shape[:k])
    kept = math.prod(shape) // summed if summed else 0
    if not 0 < summed <= longest:
        return None
    out_shape = tuple(1 if i in axis else s for i, s in enumerate(shape)) if keepdims \
        else tuple(s for i, s in enumerate(shape) if i not in axis)
    vec, reduce = ones(summed, dtype), np.add.reduce
    # on one BLAS thread: a second one would spin after this short call and take the
    # core the next kernel needs (measured: softmax 5x slower in CPU time on two threads)
    dot = one_thread_dot(*switch()) if switch() else np.dot

    def trailing_sum(x):
        if not x.flags.c_contiguous:
            return reduce(x, axis, None, None, keepdims)
        return dot(x.reshape(kept, summed), vec).reshape(out_shape)

    def leading_sum(x):
        if not x.flags.c_contiguous:
            return reduce(x, axis, None, None, keepdims)
        return dot(vec, x.reshape(summed, kept)).reshape(out_shape)
    return trailing_sum if trailing else leading_sum


@functools.lru_cache(maxsize=64)
def ones_vector(n: int, dtype) -> np.ndarray:
    """A read-only vector of n ones, shared by every sum of that length and dtype."""
    o = np.ones(n, dtype)
    o.flags.writeable = False
    return o


FLOATS = (np.dtype("float32"), np.dtype("float64"))
GEMV_MAX = 4096  # longest reduction done as a GEMV (its error grows with the length)


@functools.lru_cache(maxsize=256)
def gemv_sum(shape: tuple[int, ...], dtype, axis, keepdims: bool) -> Callable | None:
    """Row or column sums of a float matrix as a GEMV with ones: ~2x faster than
    add.reduce at the sizes of bias gradients and softmax rows. None where it does not
    apply (other ranks, axes or dtypes, long reductions). Cached: eager calls and
    log_softmax look it up at every call."""
    if len(shape) > 2 and axis == (0,) + tuple(range(2, len(shape))):
        return _channel_sum(shape, dtype, keepdims)
    if len(shape) > 2 and dtype in FLOATS:  # a block of leading or trailing dims
        return end_block_sum(shape, dtype, axis, keepdims, ones_vector, GEMV_MAX)
    if len(shape) != 2 or dtype not in FLOATS or axis not in ((0,), (1,)) \
            or not 0 < shape[axis[0]] <= GEMV_MAX:
        return None
    ones = ones_vector(shape[axis[0]], dtype)
    if axis == (0,):
        return (lambda x: (ones @ x)[None, :]) if keepdims else (lambda x: ones @ x)
    return (lambda x: (x @ ones)[:, None]) if keepdims else (lambda x: x @ ones)


def _channel_sum(shape, dtype, keepdims):
    """Per-channel sums of an (N, C, *spatial) float array (batch norm's statistics and
    a convolution bias's gradient) as two GEMVs with ones: NumPy reduces over the
    batch and the short spatial rows ~10x slower. None past GEMV_MAX terms per GEMV."""
    n, c, rest = shape[0], shape[1], math.prod(shape[2:])
    if dtype not in FLOATS or not (0 < n <= GEMV_MAX and 0 < rest <= GEMV_MAX):
        return None
    ones_n, ones_rest = ones_vector(n, dtype), ones_vector(rest, dtype)
    kept = (1, c) + (1,) * (len(shape) - 2)
    if keepdims:
        return lambda x: (ones_n @ (x.reshape(n, c, rest) @ ones_rest)).reshape(kept)
    return lambda x: ones_n @ (x.reshape(n, c, rest) @ ones_rest)


def full_sum(shape: tuple[int, ...], dtype, axis, keepdims: bool) -> Callable | None:
    """The sum of all elements of a short float array (a loss's mean over a batch) as
    a dot product with ones: ~0.3 us where add.reduce takes ~0.8 us to set up. None
    where it does not apply (keepdims, other dtypes, long reductions)."""
    size = math.prod(shape)
    if keepdims or dtype not in FLOATS or not 0 < size <= GEMV_MAX or \
            axis not in (None, tuple(range(len(shape)))):
        return None
    ones = ones_vector(size, dtype)
    if len(shape) == 1:
        return ones.dot  # (x.dot would need the method looked up at every call)
    return lambda x: ones.dot(x.reshape(-1))


def sum_kernel(x: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    """The `sum` kernel: a GEMV with ones where `gemv_sum` applies, else add.reduce."""
    fast = gemv_sum(x.shape, x.dtype, axis, keepdims)
    return fast(x) if fast else np.add.reduce(x, axis=axis, keepdims=keepdims)
