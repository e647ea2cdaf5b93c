"""Large graphs convert without recursion errors, and a moderately big one renders.

Oracle: node and edge counts of synthetic Graphs built directly (a 10,000-node chain
with branches, deeper than Python's recursion limit; a 600-node train-step-like
ladder), compared with the DOT / SVG produced.
"""

import sys

import numpy as np
from viz_helpers import FULL, needs_dot, parse_dot, svg_groups

from graphgrad.ir.graph import Graph
from graphgrad.viz import to_dot

F32 = np.dtype("float32")


def ladder(n_nodes: int, scopes: bool = False) -> Graph:
    """x -> tanh -> add(tanh, x) -> tanh -> ...: each add uses the two nodes before it."""
    g = Graph()
    x = g.add_node("input", attrs={"index": 0}, shape=(3,), dtype=F32, name="x")
    g.inputs.append(x)
    prev2 = prev = x
    for i in range(n_nodes - 1):
        scope = f"block{i // 50}.layer{i // 10 % 5}" if scopes else None
        phase = "forward" if i < n_nodes // 2 else "backward"
        if i % 2:
            new = g.add_node("add", [prev, prev2], shape=(3,), dtype=F32, source=f"m.py:{i}",
                             scope=scope, phase=phase)
        else:
            new = g.add_node("tanh", [prev], shape=(3,), dtype=F32, source=f"m.py:{i}",
                             scope=scope, phase=phase)
        prev2, prev = prev, new
    g.outputs = [prev]
    return g


def test_ten_thousand_nodes_convert():
    g = ladder(10_000, scopes=True)
    assert len(g) > sys.getrecursionlimit()
    dot = parse_dot(to_dot(g, **FULL).source)
    assert len(dot.nodes_with_class("gg-node")) == len(g)
    assert len(dot.edges_with_class("gg-edge")) == g.nx.number_of_edges()
    nested = [a for a in dot.clusters_with_class("gg-scope").values() if "." in a["tooltip"]]
    assert nested  # block*.layer* nest inside block*


@needs_dot
def test_a_moderately_big_graph_renders():
    g = ladder(600)
    svg = to_dot(g, **FULL).pipe(format="svg", encoding="utf-8")
    groups = svg_groups(svg)
    assert sum("gg-node" in gr["class"] for gr in groups) == len(g)
    assert sum("gg-edge" in gr["class"] for gr in groups) == g.nx.number_of_edges()
