"""Graph's cached argument lists, topological order and state-write index stay right.

Oracle: the same facts recomputed from the networkx graph itself (in-edges sorted by
key, every edge going forward in `any_topo_order`, `networkx.lexicographical_topological_sort`
for `topo_order`, a scan of `state_writes`) after random sequences of
the Graph's own mutators and of changes made straight through `graph.nx`.
"""

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from graphgrad.ir.graph import Graph

F32 = np.dtype("float32")


def truth_args(g, n):
    return [u for u, _, _ in sorted(g.nx.in_edges(n, keys=True), key=lambda e: e[2])]


def check(g):
    for n in g.nx:
        assert g.args(n) == truth_args(g, n)
    order = g.any_topo_order()  # any valid order: every edge goes forward
    pos = {n: i for i, n in enumerate(order)}
    assert sorted(order) == sorted(g.nx)
    assert all(pos[u] < pos[v] for u, v in g.nx.edges())
    # the canonical one, whatever rewrites came before: lexicographic by node id
    assert g.topo_order() == list(nx.lexicographical_topological_sort(g.nx))
    for node in set(g.state_writes.values()):
        assert set(g.state_writes.names_of(node)) == {
            k for k, w in g.state_writes.items() if w == node}


def build(steps):
    g = Graph()
    x = g.add_node("input", attrs={"index": 0}, shape=(2,), dtype=F32)
    g.inputs.append(x)
    for kind, i, j in steps:
        nodes = g.topo_order()
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        if kind == 0:  # a new node over older ones
            n = g.add_node("add", [a, b], shape=(2,), dtype=F32)
            g.state_writes[f"s{n % 5}"] = n
        elif kind == 1 and a != b and a not in nx.descendants(g.nx, b):
            g.replace_uses(b, a)  # (a cannot depend on b: no cycle)
        elif kind == 2 and a not in g.inputs and not g.users(a) \
                and a not in g.state_writes.values():
            g.remove_node(a)
        elif kind == 3 and g.args(a) and b not in nx.descendants(g.nx, a) and b != a:
            g.set_args(a, [b] * len(g.args(a)))
        elif kind == 4 and g.args(a):  # behind Graph's back
            u, _, k = next(iter(g.nx.in_edges(a, keys=True)))
            g.nx.remove_edge(u, a, key=k)
            g.nx.add_edge(x, a, key=k)
        elif kind == 5:
            g.state_writes.pop(f"s{i % 5}", None)
        check(g)
    return g


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 999), st.integers(0, 999)),
                max_size=30))
def test_caches_match_networkx_after_any_mutation(steps):
    g = build(steps)
    check(g.copy())


def test_a_graph_built_in_order_keeps_creation_order():
    g = Graph()
    x = g.add_node("input", attrs={"index": 0}, shape=(2,), dtype=F32)
    nodes = [x]
    for i in range(20):
        nodes.append(g.add_node("add", [nodes[i // 2], nodes[i]], shape=(2,), dtype=F32))
    assert g.topo_order() == nodes


def test_replace_uses_moves_arguments_outputs_and_state_writes():
    g = Graph()
    x = g.add_node("input", attrs={"index": 0}, shape=(2,), dtype=F32)
    a = g.add_node("neg", [x], shape=(2,), dtype=F32)
    b = g.add_node("add", [a, a], shape=(2,), dtype=F32)
    g.outputs, g.state_writes["w"] = [a], a
    c = g.add_node("exp", [x], shape=(2,), dtype=F32)
    g.replace_uses(a, c)
    assert g.args(b) == [c, c] and g.outputs == [c] and g.state_writes["w"] == c
    assert g.state_writes.names_of(c) == ("w",) and g.state_writes.names_of(a) == ()
    assert g.topo_order() == [x, a, c, b]  # b now reads the newer c: the order was redone
    check(g)


def test_a_change_through_networkx_drops_the_caches():
    g = Graph()
    x = g.add_node("input", attrs={"index": 0}, shape=(2,), dtype=F32)
    y = g.add_node("input", attrs={"index": 1}, shape=(2,), dtype=F32)
    a = g.add_node("neg", [x], shape=(2,), dtype=F32)
    assert g.args(a) == [x]
    g.nx.remove_edge(x, a, key=0)
    g.nx.add_edge(y, a, key=0)
    assert g.args(a) == [y]
