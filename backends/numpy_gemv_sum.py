"""Sums over the leading or the trailing dims of an N-d float array as one GEMV.

NumPy reduces short contiguous rows slowly: the sum over the last dim of a (32, 64, 128)
activation (a LayerNorm's mean and variance) or over the leading dims of a (32, 64, 512)
gradient (a Linear layer's bias gradient) runs 2-6x faster as the 2-d matrix it is
times a vector of ones (measured here: 0.077 vs 0.019 ms, 0.14 vs 0.075 ms). The 2-d
cases live in numpy_backend.py; this extends them to any rank where the summed dims
form one block at either end, so the matrix is a free reshape of a C-contiguous array
(any other layout is reduced by np.add.reduce, as before).
"""

from __future__ import annotations

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
