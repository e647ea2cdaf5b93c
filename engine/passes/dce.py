"""Dead-node pruning: drop every node no output or state write needs (in place)."""

from __future__ import annotations


def live_nodes(graph) -> set[int]:
    """Nodes reachable backwards from outputs and state writes (`Graph.live_nodes`)."""
    return graph.live_nodes()


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
