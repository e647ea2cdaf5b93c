"""Forward-mode autodiff: dual numbers, kept beside the tensors, one level per `jvp`.

A `Level` maps primal tensors to their tangents. While levels are active, every op
(`ops.registry.apply`) also computes its output's tangent with the op's JVP rule,
`op.jvp(tangents, out, *inputs, **attrs)`, where `tangents` lines up with the inputs
(None for a zero tangent). Rules are written with Tensor ops, so the same mechanism
runs eagerly and while tracing (tangent nodes carry `phase="tangent"`), and a rule's
own ops are seen by the other differentiation machinery:

- by outer (lower) forward levels, which gives forward-over-forward derivatives; a
  level's rule runs with only the levels below it active (as in JAX's level
  discipline), so inner and outer perturbations are never confused;
- by reverse mode, which records them when their inputs require grad (reverse over
  forward); and reverse-mode VJP rules, being ops too, carry tangents (forward over
  reverse: Hessian-vector products).

Levels are entered through `gg.func.jvp`; nothing here is public API. This file sits
below the op registry (whose `apply` calls `propagate`); the dual tensors that the
transforms build from ops live above it, in `ops/dual.py`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from .errors import AutogradError
from .ir import tracing
from .source import user_source

if TYPE_CHECKING:  # annotations only: Tensor's methods reach this file through the ops
    from .tensor import Tensor

_levels: list[Level] = []  # every level entered and not yet left, outermost first
_active: list[Level] = []  # the levels ops propagate tangents to right now


class Level:
    """One forward-mode perturbation: primal tensor -> tangent (same shape and dtype)."""

    def __init__(self, depth: int):
        self.depth = depth
        self._tangents: dict[int, tuple[Tensor, Tensor]] = {}  # id -> (primal kept alive, t)

    def tangent(self, primal: Tensor) -> Tensor | None:
        entry = self._tangents.get(id(primal))
        return None if entry is None else entry[1]

    def set_tangent(self, primal: Tensor, tangent: Tensor) -> None:
        self._tangents[id(primal)] = (primal, tangent)


@contextlib.contextmanager
def new_level():
    """Enter a fresh innermost level; its tangents are dropped on exit."""
    global _active
    level = Level(len(_levels))
    _levels.append(level)
    saved, _active = _active, _active + [level]
    try:
        yield level
    finally:
        _active = saved
        _levels.remove(level)


def is_active() -> bool:
    return bool(_active)


def propagate(op, inputs, attrs, out: Tensor) -> None:
    """Give `out` a tangent at every active level where an input has one."""
    global _active
    if not op.differentiable or out.dtype.kind != "f":
        return
    active = _active
    for level in active:  # outermost first: inner rules may read out's outer tangents
        tangents = tuple(level.tangent(x) for x in inputs)
        if all(t is None for t in tangents):
            continue
        if op.jvp is None:
            raise AutogradError(f"op {op.name!r} has no forward-mode (jvp) rule", op=op.name,
                                source=user_source())
        _active = [lv for lv in active if lv.depth < level.depth]
        try:
            with tracing.phase("tangent"):
                t = op.jvp(tangents, out, *inputs, **attrs)
                t = None if t is None else _fit(t, out)
        finally:
            _active = active
        if t is not None:
            level.set_tangent(out, t)


def active_levels() -> list[Level]:
    """The levels entered and not yet left, outermost first (read, never modified)."""
    return _levels


def _fit(t: Tensor, out: Tensor) -> Tensor:
    """Rules may leave broadcasting to here: the tangent takes out's shape and dtype (the
    Tensor methods `astype` and `broadcast_to`, which the op groups above register)."""
    if t.dtype != out.dtype:
        t = t.astype(out.dtype)
    return t.broadcast_to(out.shape) if t.shape != out.shape else t


def share_tangents(src: Tensor, dst: Tensor) -> None:
    """Make dst's tangents src's at every level (in-place updates: the new value's
    tangents replace the old ones, and a value without one leaves none)."""
    for level in _levels:
        t = level.tangent(src)
        if t is not None:
            level.set_tangent(dst, t if t.dtype == dst.dtype else t.astype(dst.dtype))
        else:
            level._tangents.pop(id(dst), None)
