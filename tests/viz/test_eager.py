"""An eager tensor's recorded history draws like torchviz's make_dot(loss).

Oracle: hand-counted histories. `loss = tanh(x @ W + b).sum() * 0.5` records the
leaves x, W, b, the constant 0.5 and five op results (matmul, add, tanh, sum, mul);
a chain of (recursion limit + 500) ops is deeper than Python's recursion limit.
"""

import sys

from viz_helpers import FULL, parse_dot

import graphgrad as gg
from graphgrad.viz import graph_of_tensors, to_dot


def small_history():
    W = gg.randn(3, 4, requires_grad=True)
    b = gg.zeros(4, requires_grad=True)
    x = gg.randn(5, 3)
    return gg.tanh(x @ W + b).sum() * 0.5, W, b


def test_history_becomes_a_graph():
    loss, W, b = small_history()
    g = graph_of_tensors(loss, {"W": W, "b": b})
    ops = [d["op"] for _, d in sorted(g.nx.nodes(data=True))]
    assert sorted(ops) == sorted(["input", "state", "state", "const", "matmul", "add", "tanh",
                                  "sum", "mul"])
    assert g.nx.number_of_edges() == 8  # matmul 2, add 2, tanh 1, sum 1, mul 2
    assert len(g.outputs) == 1 and g[g.outputs[0]]["op"] == "mul"
    assert {g[n]["name"] for n in g.state_reads.values()} == {"W", "b"}
    g.verify()


def test_eager_diagram_names_parameters_and_inlines_the_constant():
    loss, W, b = small_history()
    dot = parse_dot(to_dot(loss, params={"W": W, "b": b}, **FULL).source)
    nodes = dot.nodes_with_class("gg-node")
    assert len(nodes) == 8  # the scalar 0.5 is written into mul's label
    labels = " ".join(a["label"] for a in nodes.values())
    assert "<b>W</b>" in labels and "<b>b</b>" in labels and "mul(\u00b7, 0.5)" in labels
    assert len(dot.edges_with_class("gg-edge")) == 7  # 8 edges minus the inlined one


def test_deep_history_walks_without_recursion():
    x = gg.tensor([0.5], requires_grad=True)
    y = x
    depth = sys.getrecursionlimit() + 500
    for _ in range(depth):
        y = y * 0.999
    g = graph_of_tensors(y)
    assert sum(1 for _, op in g.nx.nodes(data="op") if op == "mul") == depth
    assert len(parse_dot(to_dot(y, **FULL).source).nodes_with_class("gg-node")) == depth + 1
