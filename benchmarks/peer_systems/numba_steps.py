"""graphgrad compiled on the Numba backend: the graphgrad steps of graphgrad_steps.py,
word for word, with `gg.compile(..., backend="numba")` (the whole step as one
generated native function where the backend takes the plan)."""

from __future__ import annotations

import functools

import graphgrad as gg

from . import graphgrad_steps
from .workloads import Workload


def build(w: Workload):
    """graphgrad_steps' compiled step, compiled for the Numba backend (its `gg.compile`
    call is made while building, so it sees the backend given here)."""
    compile_ = gg.compile
    gg.compile = functools.partial(compile_, backend="numba")
    try:
        return graphgrad_steps.build(w, compiled=True)
    finally:
        gg.compile = compile_
