"""The compile cache's parts: one traced `Entry` per signature and guard set, the
`TraceRecord`s saying why each trace happened, and `CacheInfo`, what `cache_info()`
returns.

Trace records are kept for the last `MAX_RECORDS` traces only (the count of traces is
exact), so a function retraced forever holds bounded memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import pytree
from .ir.graph import Graph

MAX_RECORDS = 64  # trace records kept per compiled function (the newest)


@dataclass
class TraceRecord:
    signature: tuple
    reason: str
    seconds: float
    changed: str | None = None  # the argument whose change caused the trace, if any
    call: int = 0  # which call (counting from 1) traced


@dataclass
class CacheInfo:
    traces: int
    hits: int
    entries: int
    records: list = field(default_factory=list)
    evictions: int = 0  # plans dropped to keep the cache within its size

    def __str__(self) -> str:
        lines = [f"{self.traces} trace(s), {self.hits} cached call(s), {self.entries} plan(s), "
                 f"{self.evictions} evicted"]
        first = self.traces - len(self.records)
        lines += [f"  trace {first + i + 1}: {r.reason} ({r.seconds * 1e3:.0f} ms)"
                  for i, r in enumerate(self.records)]
        return "\n".join(lines)


class Entry:
    """One traced signature: its graphs, its plan, and the guards that keep it valid."""

    checked = None  # the plan gg.detect_anomaly() runs instead (built on first use)
    used = 0  # the owner's clock at the last call (least recently used is evicted first)
    hit = False  # engine/fast_call.py's check for this plan (None: not a positional call)
    fast = None  # its check and run in one, for a `lone` plan (engine/fast_call.py)

    def __init__(self, signature, graph, optimized, stats, plan, rebuild, guards):
        self.signature = signature
        self.graph = graph  # as traced (phases forward / backward / update)
        self.optimized = optimized
        self.pass_stats = stats
        self.plan = plan
        self.rebuild = rebuild
        self.guards = guards  # a GuardSet (engine/guards.py)
        self.valid = guards.valid  # () -> bool, the fast check before every call
        self.input_writes = list(getattr(graph, "input_writes", ()))
        self.mode_sets = tuple(getattr(graph, "mode_sets", ()))  # (module, training)
        self.n_outputs = len(optimized.outputs) - len(self.input_writes)
        self.plain = not (self.input_writes or self.mode_sets or optimized.input_grads)
        # the commonest step returns one tensor (the loss): _run wraps it, nothing more
        self.lone = self.plain and self.n_outputs == 1 and rebuild is pytree.first

    @property
    def source(self) -> str:
        return self.plan.source

    @property
    def forward(self) -> Graph:
        """The traced forward graph (before optimization)."""
        return self.graph.phase("forward")

    @property
    def backward(self) -> Graph:
        """The traced backward graph: what `loss.backward()` added."""
        return self.graph.phase("backward")

    @property
    def update(self) -> Graph:
        """The traced optimizer update (what `opt.step()` added)."""
        return self.graph.phase("update")

    def failed_guard(self) -> str | None:
        """None when the plan may run; else what changed, in the user's words."""
        return self.guards.failed()

    @property
    def stats(self) -> dict:
        return {
            "nodes_by_phase": self.graph.nodes_by_phase(),
            "kernels_before": self.graph.kernel_count(),
            "kernels_after": self.plan.kernel_calls,
            "nodes_before": len(self.graph),
            "nodes_after": len(self.optimized),
            "passes": [str(s) for s in self.pass_stats],
        }
