"""nll_loss kernels written once for any NumPy-like array module (NumPy, CuPy, its emulation).

`kernels(xp, check)` returns the table for `xp`; `check(idx, lo, hi, op)` is the
backend's bounds check of the targets (NumPy raises IndexError at once; CuPy records
the offender on the device and raises when results are read back, cupy_indexing.py),
since an array module's fancy indexing wraps a negative index around instead of failing.

The values are PyTorch 2.13's: a row whose target is `ignore_index` counts 0 whatever
its log-probability (NaN and -inf included: a select, never a multiply by 0), 'mean'
divides by the sum of the kept rows' class weights (0 / 0 = NaN when every row is
ignored, as there), and the gradient is -w[t_i] (/ that sum) at each kept row's target.
On NumPy a batch with no ignored row takes a shorter path (no mask, no select): the
digits benchmark's loss costs a few microseconds per call.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def kernels(xp, check: Callable) -> dict[str, Callable]:
    """The nll_loss and nll_loss_backward kernels for array module `xp`."""
    host = xp is np  # a mask's any() is free on the host, a device sync on a GPU

    def rows(target, weight, ignore_index, classes, op, dtype):
        """(safe targets, the kept-row mask or None, per-row weights or None)."""
        keep = None
        if ignore_index is not None:
            keep = target != ignore_index
            if host and keep.all():
                keep = None
            else:
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
