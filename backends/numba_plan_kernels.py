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
from numba import njit

_FLAGS = {"error_model": "numpy", "cache": True}


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
        j = idx[k] + n if idx[k] < 0 else idx[k]  # -1: the last row, as NumPy and PyTorch
        if j < 0 or j >= n:
            raise IndexError("index: an index is out of bounds")
        out[k] = x[j]
    return out


@njit(**_FLAGS)
def add_rows(out, idx, g):
    """out[idx] += g for a 1-d integer idx, repeated indices adding up (np.add.at)."""
    n = out.shape[0]
    for k in range(idx.shape[0]):
        j = idx[k] + n if idx[k] < 0 else idx[k]
        if j < 0 or j >= n:
            raise IndexError("index: an index is out of bounds")
        out[j] += g[k]
    return out


@njit(**_FLAGS)
def in_range(idx, bound):
    """Whether every entry of idx lies in [0, bound) (check_index's test)."""
    for j in idx.ravel():
        if j < 0 or j >= bound:
            return False
    return True


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


@njit(**_FLAGS)
def nll_rows(logp, target, weight, ignore, has_ignore, mode):
    """nll_loss (numpy_backend's loss_kernels, PyTorch's values): the rows' terms for
    mode 0 ('none'); else one value, their sum (mode 2) or that over the kept rows'
    weights (mode 1, 'mean'). Sums accumulate in float64."""
    n, k = logp.shape
    terms = np.zeros(n, logp.dtype)
    total, divisor = 0.0, 0.0
    for i in range(n):
        j = target[i]
        if has_ignore and j == ignore:
            continue
        if j < 0 or j >= k:
            raise IndexError("nll_loss: a target is out of bounds")
        terms[i] = -weight[j] * logp[i, j]
        total += terms[i]
        divisor += weight[j]
    if mode == 0:
        return terms
    out = np.empty(1, logp.dtype)
    out[0] = total if mode == 2 else total / divisor if divisor != 0 else np.nan
    return out


@njit(**_FLAGS)
def nll_rows_backward(g, target, weight, ignore, has_ignore, mode, k):
    """The gradient of nll_rows: -w[t_i] g_i (g_i = g[0] / the divisor for 'mean', g[0]
    for 'sum') at each kept row's target, zeros elsewhere."""
    n = target.shape[0]
    out = np.zeros((n, k), g.dtype)
    divisor = 0.0
    for i in range(n):
        j = target[i]
        if not (has_ignore and j == ignore):
            if j < 0 or j >= k:
                raise IndexError("nll_loss_backward: a target is out of bounds")
            divisor += weight[j]
    for i in range(n):
        j = target[i]
        if has_ignore and j == ignore:
            continue
        gi = g[i] if mode == 0 else g[0] / divisor if mode == 1 else g[0]
        out[i, j] = -weight[j] * gi
    return out


@njit(**_FLAGS)
def log_softmax_rows_backward(grad, logp):
    """log_softmax's VJP, grad - exp(logp) * (grad's row sums), in place in grad (the
    back half of cross_entropy_backward, after nll_rows_backward)."""
    n, k = grad.shape
    for i in range(n):
        r = grad[i, 0]
        for j in range(1, k):
            r += grad[i, j]
        for j in range(k):
            grad[i, j] -= np.exp(logp[i, j]) * r
    return grad
