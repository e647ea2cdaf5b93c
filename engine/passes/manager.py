"""The pass manager: an ordered, named pipeline with per-pass statistics.

`gg.compile(passes=...)` takes "default", "none", or a list of pass names (or
callables). Third-party passes register under the entry-point group
`graphgrad.passes` (name = module:function). With `ctx.debug` (or the environment
variable GRAPHGRAD_DEBUG=1) every pass is followed by `graph.verify()`.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from ..errors import GraphgradError
from .cse import eliminate_common_subexpressions
from .dce import prune_dead_nodes
from .fold import fold_constants
from .foreach import merge_foreach
from .fusion import fuse_elementwise
from .layout import column_major_weights
from .memory import plan_memory
from .simplify import simplify

DEFAULT_PIPELINE = ("simplify", "fold", "cse", "simplify", "dce", "fusion", "layout",
                    "foreach", "memory")
GROUP = "graphgrad.passes"


@dataclass
class PassContext:
    backend: object = None
    debug: bool = field(default_factory=lambda: os.environ.get("GRAPHGRAD_DEBUG") == "1")


@dataclass
class PassStats:
    name: str
    nodes_before: int
    nodes_after: int
    kernels_before: int
    kernels_after: int
    seconds: float

    def __str__(self) -> str:
        return (f"{self.name:<10} nodes {self.nodes_before:>5} -> {self.nodes_after:<5} "
                f"kernels {self.kernels_before:>5} -> {self.kernels_after:<5} "
                f"{self.seconds * 1e3:7.2f} ms")


def _builtin():
    return {"dce": prune_dead_nodes, "cse": eliminate_common_subexpressions,
            "fold": fold_constants, "simplify": simplify, "fusion": fuse_elementwise,
            "foreach": merge_foreach, "layout": column_major_weights,
            "memory": plan_memory}


def available_passes() -> dict:
    """Built-in passes plus those installed under the `graphgrad.passes` entry points."""
    passes = _builtin()
    for ep in entry_points(group=GROUP):
        passes.setdefault(ep.name, ep)
    return passes


def resolve(spec) -> list[tuple[str, object]]:
    if spec in (None, "none"):
        return []
    names = DEFAULT_PIPELINE if spec == "default" else spec
    if isinstance(names, str):
        names = [names]
    known = available_passes()
    out = []
    for item in names:
        if callable(item):
            out.append((getattr(item, "__name__", "custom"), item))
            continue
        if item not in known:
            raise GraphgradError(f"unknown pass {item!r}; known passes: {', '.join(known)}")
        fn = known[item]
        out.append((item, fn.load() if hasattr(fn, "load") else fn))
    return out


def run_passes(graph, spec="default", ctx: PassContext | None = None):
    """(optimized copy of graph, [PassStats]) after running the pipeline `spec`.

    Python's cyclic garbage collector is paused meanwhile: the passes allocate many
    small, acyclic objects, and its full collections, which walk every live object,
    cost a fifth of a big graph's compile time for nothing to collect.
    """
    ctx = ctx or PassContext()
    pause = gc.isenabled()
    if pause:
        gc.disable()
    try:
        g = graph.copy()
        stats = []
        kernels = g.kernel_count()
        for name, fn in resolve(spec):
            n0, k0, t0 = len(g), kernels, time.perf_counter()
            g = fn(g, ctx)
            kernels = g.kernel_count()
            stats.append(PassStats(name, n0, len(g), k0, kernels, time.perf_counter() - t0))
            if ctx.debug:
                g.verify()
    finally:
        if pause:
            gc.enable()
    return g, stats
