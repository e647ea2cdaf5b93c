"""`Graph.verify()`: acyclicity, arities, shapes and dtypes against the op rules.

The rules live in the op registry, a layer above the IR: the registry hands its table
in as it loads (`use_rules`), so the IR imports no op and reads as plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np

from ..errors import GraphError, GraphgradError
from .schema import SOURCE_OPS

#: op name -> an object with `infer(*avals, **attrs) -> (shape, dtype)` (the registry's Ops)
_rules: Mapping[str, Any] = {}


def use_rules(rules: Mapping[str, Any]) -> None:
    """Check nodes against `rules` (the op registry calls this with its live table)."""
    global _rules
    _rules = rules


class Aval:
    """An abstract value: what the shape rules need to know about an argument."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


_KEYS = ("op", "attrs", "shape", "dtype", "phase")


def verify(graph) -> None:
    g = graph.nx
    if not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        raise GraphError(f"the graph has a cycle through nodes {[u for u, *_ in cycle]}")
    for n in g.nodes:
        _verify_node(graph, n)
    for kind, nodes in (("input", graph.inputs), ("output", graph.outputs),
                        ("state read", graph.state_reads.values()),
                        ("state write", [w for w in graph.state_writes.values() if w is not None])):
        for n in nodes:
            if n not in g:
                raise GraphError(f"{kind} %{n} is not a node of the graph")
    for name, n in graph.state_writes.items():
        r = graph.state_reads.get(name)
        if n is not None and r is not None and graph[r]["shape"] != graph[n]["shape"]:
            raise graph.node_error(n, f"writes state {name!r} of shape {graph[r]['shape']} "
                                      f"with a value of shape {graph[n]['shape']}")


def _verify_node(graph, n: int) -> None:
    data = graph[n]
    for key in _KEYS:
        if key not in data:
            raise GraphError(f"node %{n} lacks attribute {key!r}")
    op, args = data["op"], graph.args(n)
    if op in SOURCE_OPS:
        if args:
            raise graph.node_error(n, f"a {op} node takes no arguments, it has {len(args)}")
        if op == "const":
            value = data["attrs"].get("value")
            if value is None or np.shape(value) != data["shape"]:
                raise graph.node_error(n, "const value does not match the node's shape")
        return
    keys = sorted(k for _, _, k in graph.nx.in_edges(n, keys=True))
    if keys != list(range(len(keys))):
        raise graph.node_error(n, f"argument positions {keys} are not 0..{len(keys) - 1}")
    avals = [Aval(graph[a]["shape"], graph[a]["dtype"]) for a in args]
    shape, dtype = _infer(graph, n, op, avals, data["attrs"])
    if tuple(shape) != data["shape"] or np.dtype(dtype) != data["dtype"]:
        raise graph.node_error(n, f"recorded type {data['dtype']}{list(data['shape'])} but the "
                                  f"op rule gives {np.dtype(dtype)}{list(shape)}")


def _infer(graph, n, op, avals, attrs):
    if op == "fused":
        return attrs["program"].infer(avals)
    if op == "get":
        return graph[n]["shape"], graph[n]["dtype"]  # checked through its fused producer
    rule = _rules.get(op)
    if rule is None:
        raise graph.node_error(n, f"unknown op {op!r}")
    try:
        return rule.infer(*avals, **attrs)
    except GraphgradError as e:
        raise graph.node_error(n, str(e)) from None
    except TypeError as e:
        raise graph.node_error(n, f"wrong arguments for {op}: {e}") from None
