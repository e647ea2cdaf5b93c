"""The strong Wolfe line search used by LBFGS (Nocedal & Wright, Algorithms 3.5 and 3.6),
with the same steps as PyTorch's: bracket with cubic extrapolation, then zoom with
cubic interpolation, guarding against steps too close to the bracket's ends.

`evaluate(t)` returns the loss and flat gradient at `x + t * d`; the search returns the
accepted step's loss, gradient, step and the number of evaluations it made. Scalars are
Python floats: the search is control flow on the losses, so it runs eagerly only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..tensor import Tensor


@dataclass
class _Point:
    t: float
    f: float
    g: Tensor
    gtd: float  # directional derivative: g . d


def cubic_minimum(a: _Point, b: _Point, bounds: tuple[float, float] | None = None) -> float:
    """The minimizer of the cubic through two points' values and slopes, within bounds
    (the midpoint of the bounds when the cubic has no real minimizer)."""
    lo, hi = bounds if bounds is not None else sorted((a.t, b.t))
    d1 = a.gtd + b.gtd - 3 * (a.f - b.f) / (a.t - b.t)
    d2_square = d1 * d1 - a.gtd * b.gtd
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if a.t <= b.t:
        t = b.t - (b.t - a.t) * ((b.gtd + d2 - d1) / (b.gtd - a.gtd + 2 * d2))
    else:
        t = a.t - (a.t - b.t) * ((a.gtd + d2 - d1) / (a.gtd - b.gtd + 2 * d2))
    return min(max(t, lo), hi)


def strong_wolfe(evaluate: Callable[[float], tuple[float, Tensor]], d: Tensor, t: float,
                 f: float, g: Tensor, gtd: float, c1: float = 1e-4, c2: float = 0.9,
                 tolerance_change: float = 1e-9, max_ls: int = 25):
    """A step `t` along `d` with sufficient decrease (c1) and curvature (c2)."""
    d_norm = float(d.abs().max())
    start = _Point(0.0, f, g, gtd)

    def probe(step: float) -> _Point:
        f_new, g_new = evaluate(step)
        return _Point(step, f_new, g_new, float((g_new * d).sum()))

    prev, new, evals, it = start, probe(t), 1, 0
    bracket = None
    while it < max_ls:
        if new.f > f + c1 * new.t * gtd or (it > 1 and new.f >= prev.f):
            bracket = [prev, new]
            break
        if abs(new.gtd) <= -c2 * gtd:
            return new.f, new.g, new.t, evals
        if new.gtd >= 0:
            bracket = [prev, new]
            break
        step = cubic_minimum(prev, new, (new.t + 0.01 * (new.t - prev.t), new.t * 10))
        prev, new, evals, it = new, probe(step), evals + 1, it + 1
    if bracket is None:  # no bracket within max_ls probes
        bracket = [start, new]
    return _zoom(probe, bracket, f, gtd, c1, c2, tolerance_change, d_norm, it, max_ls, evals)


def _zoom(probe, bracket, f, gtd, c1, c2, tolerance_change, d_norm, it, max_ls, evals):
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    insufficient_progress = False
    while it < max_ls:
        if abs(bracket[1].t - bracket[0].t) * d_norm < tolerance_change:
            break
        t = cubic_minimum(bracket[0], bracket[1])
        t_max, t_min = max(p.t for p in bracket), min(p.t for p in bracket)
        eps = 0.1 * (t_max - t_min)
        if min(t_max - t, t - t_min) < eps:
            # too close to an end: once tolerated, the second time moved inside by eps
            if insufficient_progress or t >= t_max or t <= t_min:
                t = t_max - eps if abs(t - t_max) < abs(t - t_min) else t_min + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        new = probe(t)
        evals, it = evals + 1, it + 1
        if new.f > f + c1 * t * gtd or new.f >= bracket[low].f:
            bracket[high] = new
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
            continue
        if abs(new.gtd) <= -c2 * gtd:
            bracket[low] = new
            break
        if new.gtd * (bracket[high].t - bracket[low].t) >= 0:
            bracket[high] = bracket[low]
        bracket[low] = new
    best = bracket[low]
    return best.f, best.g, best.t, evals
