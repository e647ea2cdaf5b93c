"""The plan's schedule: creation order, with the users of all-reduces placed last.

Data-parallel training puts an `all_reduce` per gradient bucket into the backward pass,
each created as soon as its bucket's gradients are (DistributedDataParallel's hooks run
while the backward walk goes on). A backend that can start a collective and wait for it
later (`Backend.all_reduce_start`) gets the start where the node stands and the wait
before the first use of its result (runtime.py). For the communication to overlap
computation, the work that does *not* need any all-reduce's result (the rest of the
backward pass) must come before the work that does (unflattening the averaged buckets,
the optimizer's update): so the schedule is the creation order (`topo_order()`) of the
nodes that depend on no all-reduce, then that of the nodes that do. Both runs keep
creation order, and nothing in the first depends on the second, so it is a topological
order. Random draws keep their order: once a random op depends on an all-reduce,
every later random op (and what depends on it) goes to the second run too.
"""

from __future__ import annotations

from ..ops.registry import REGISTRY


def _waits_on_collective(graph, order) -> set[int]:
    """Nodes that read an all-reduce's result, directly or not (and the random draws
    that must stay behind such a draw)."""
    late: set[int] = set()
    random_late = False
    for n in order:
        op = graph[n]["op"]
        is_random = op in REGISTRY and REGISTRY[op].random
        if any(a in late or graph[a]["op"] == "all_reduce" for a in graph.args(n)) \
                or (is_random and random_late):
            late.add(n)
            random_late |= is_random
    return late


def schedule(graph) -> list[int]:
    """The order the plan runs `graph`'s nodes in (see the module doc)."""
    order = graph.topo_order()
    if not any(graph[n]["op"] == "all_reduce" for n in order):
        return order
    late = _waits_on_collective(graph, order)
    return [n for n in order if n not in late] + [n for n in order if n in late]
