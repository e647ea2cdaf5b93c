"""Common-subexpression elimination: one node per (op, attrs, arguments) (in place)."""

from __future__ import annotations

import numpy as np

from ..ir.fused import attr_key
from ..ops.registry import REGISTRY

SMALL_CONST = 1024  # constants up to this many elements are merged by value


def node_key(graph, n):
    """A hashable description of what node n computes, or None if it must stay unique."""
    data = graph[n]
    op = data["op"]
    if op == "const":
        value = np.asarray(data["attrs"]["value"])
        if value.size > SMALL_CONST:
            return None
        return ("const", value.dtype.str, value.shape, value.tobytes())
    spec = REGISTRY.get(op)
    if spec is None or spec.random or op in ("input", "state"):
        return None
    args = graph.args(n)
    if spec.commutative:  # x * 0.1 and 0.1 * x (a square's VJP: g x + x g) are one node
        args = sorted(args)
    return (op, attr_key(data["attrs"]), tuple(args), data["dtype"].str)


def eliminate_common_subexpressions(graph, ctx=None):
    seen: dict = {}
    for n in graph.any_topo_order():
        key = node_key(graph, n)
        if key is None:
            continue
        first = seen.setdefault(key, n)
        if first != n:
            graph.replace_uses(n, first)
            graph.remove_node(n)
    return graph
