"""Dead-node pruning: drop every node no output or state write needs (in place).

A random draw is kept even when nothing reads it: eagerly it advances the generator,
so pruning it would change every later draw (the step's other dropout masks, and the
user's after the call) and the compiled step would differ from the same code run
eagerly.
"""

from __future__ import annotations

from ..ops.registry import REGISTRY


def live_nodes(graph) -> set[int]:
    """Nodes reachable backwards from outputs, state writes and random draws."""
    return graph.live_nodes(also=[n for n in graph.nx.nodes if _random(graph, n)])


def _random(graph, n) -> bool:
    op = REGISTRY.get(graph[n]["op"])
    return op is not None and op.random


def prune_dead_nodes(graph, ctx=None):
    live = live_nodes(graph) | set(graph.inputs)
    dead = [n for n in graph.nx.nodes if n not in live]
    graph.remove_nodes(dead)
    for name, n in list(graph.state_reads.items()):
        if n not in live:
            del graph.state_reads[name]
            if name not in graph.state_writes:
                graph.state_refs.pop(name, None)
    return graph
