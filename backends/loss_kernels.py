"""nll_loss kernels written once for any NumPy-like array module (NumPy, CuPy, its emulation).

`kernels(xp, check)` returns the table for `xp`; `check(idx, lo, hi, op)` is the
backend's bounds check of the targets (NumPy raises IndexError at once; CuPy records
the offender on the device and raises when results are read back, cupy_indexing.py),
since an array module's fancy indexing wraps a negative index around instead of failing.

The values are PyTorch 2.13's: a row whose target is `ignore_index` counts 0 whatever
its log-probability (NaN and -inf included: a select, never a multiply by 0), 'mean'
divides by the sum of the kept rows' class weights (0 / 0 = NaN when every row is
ignored, as there), and the gradient is -w[t_i] (/ that sum) at each kept row's target.
On NumPy a batch with no ignored row and every target a class (one min and one max
say so) takes a shorter path: flat picks, no mask, no select.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np


@functools.lru_cache(maxsize=64)
def _row_offsets(n: int, classes: int) -> np.ndarray:
    """i * classes for each row i: a row's target plus this is its flat position."""
    out = np.arange(n, dtype=np.int64) * classes
    out.flags.writeable = False
    return out


def _plain_rows(target, ignore_index, classes):
    """On the host: the flat positions of each row's pick when no row is ignored and
    every target is a class, else None (the general path). One reduction decides: read
    as unsigned, a negative target (-100 too) is huge, so the largest is below `classes`
    only if all are in [0, classes); an ignore_index that is a class needs the mask."""
    if not target.size or (ignore_index is not None and 0 <= ignore_index < classes):
        return None
    unsigned = target.view(f"u{target.itemsize}") if target.dtype.kind == "i" else target
    if np.maximum.reduce(unsigned) >= classes:
        return None
    return target + _row_offsets(target.shape[0], classes)


def _nll_plain(logp, target, picks, weight, reduction):
    """nll_loss on the host with no row ignored (the digits benchmark's case)."""
    picked = logp.reshape(-1).take(picks)
    if weight is not None:
        w = weight.take(target)
        picked = picked * w
    if reduction == "none":
        return np.negative(picked)
    total = -np.add.reduce(picked)
    if reduction == "sum":
        return np.asarray(total, logp.dtype)
    divisor = logp.dtype.type(picks.shape[0]) if weight is None else w.sum(dtype=logp.dtype)
    if not divisor:
        return None  # (the general path says NaN or inf, as torch)
    return np.asarray(total / divisor, logp.dtype)


def _nll_plain_backward(g, target, picks, weight, reduction, classes):
    n, dtype = picks.shape[0], g.dtype
    w = None if weight is None else weight.take(target)
    if reduction == "mean":
        divisor = dtype.type(n) if w is None else w.sum(dtype=dtype)
        if not divisor:
            return None
        g = g / divisor
    scale = np.negative(g) if w is None else w * -g
    out = np.zeros((n, classes), dtype)
    out.reshape(-1)[picks] = scale
    return out


def kernels(xp, check: Callable) -> dict[str, Callable]:
    """The nll_loss and nll_loss_backward kernels for array module `xp`."""
    host = xp is np  # a bound check is free on the host, a device sync on a GPU

    def rows(target, weight, ignore_index, classes, op, dtype):
        """(safe targets, the kept-row mask or None, per-row weights or None)."""
        keep = None
        if ignore_index is not None:
            keep = target != ignore_index
            target = xp.where(keep, target, 0)
        check(target, 0, classes, op)
        w = None if weight is None else weight[target]
        return target, keep, w

    def divisor(n, keep, w, dtype):
        if w is not None:
            return (w if keep is None else xp.where(keep, w, 0)).sum(dtype=dtype)
        return dtype.type(n) if keep is None else keep.sum(dtype=dtype)

    def nll_loss(logp, target, weight=None, *, ignore_index, reduction):
        n, classes = logp.shape
        picks = _plain_rows(target, ignore_index, classes) if host else None
        if picks is not None:
            out = _nll_plain(logp, target, picks, weight, reduction)
            if out is not None:
                return out
        target, keep, w = rows(target, weight, ignore_index, classes, "nll_loss", logp.dtype)
        picked = logp[xp.arange(n), target]
        terms = xp.negative(picked) if w is None else picked * -w
        if keep is not None:
            terms = xp.where(keep, terms, logp.dtype.type(0))
        if reduction == "none":
            return terms
        total = terms.sum(dtype=logp.dtype)
        if reduction == "sum":
            return xp.asarray(total, logp.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):  # all ignored: NaN, as torch
            return xp.asarray(total / divisor(n, keep, w, logp.dtype), logp.dtype)

    def nll_loss_backward(g, target, weight=None, *, ignore_index, reduction, classes):
        picks = _plain_rows(target, ignore_index, classes) if host else None
        if picks is not None:
            out = _nll_plain_backward(g, target, picks, weight, reduction, classes)
            if out is not None:
                return out
        n, dtype = target.shape[0], g.dtype
        target, keep, w = rows(target, weight, ignore_index, classes, "nll_loss_backward",
                               dtype)
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                g = g / divisor(n, keep, w, dtype)
        scale = xp.negative(xp.broadcast_to(g, (n,))) if w is None else -w * g
        if keep is not None:
            scale = xp.where(keep, scale, dtype.type(0))
        out = xp.zeros((n, classes), dtype)
        out[xp.arange(n), target] = scale
        return out

    return {"nll_loss": nll_loss, "nll_loss_backward": nll_loss_backward}
