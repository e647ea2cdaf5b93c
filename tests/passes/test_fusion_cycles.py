"""Fusion's cycle check (hub masks + two-sided search) groups exactly as a plain search.

Oracle: the search-per-candidate check fusion used before (a walk from the producer
group over everything up to the consumer, written out below), on random DAGs of
fusable (`tanh`, `add`) and non-fusable (`sum` kept to its shape, `matmul`) nodes, and
networkx's acyclicity test on the graph of the resulting groups.
"""

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from graphgrad.ir.graph import Graph
from graphgrad.passes import fusion
from graphgrad.passes.fusion import find_groups, is_fusable

F64 = np.dtype("float64")


def random_graph(choices) -> Graph:
    g = Graph()
    x = g.add_node("input", attrs={"index": 0}, shape=(2, 2), dtype=F64, name="x")
    g.inputs.append(x)
    nodes = [x]
    for kind, i, j in choices:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        if kind == 0:
            n = g.add_node("tanh", [a], shape=(2, 2), dtype=F64)
        elif kind == 1:
            n = g.add_node("add", [a, b], shape=(2, 2), dtype=F64)
        elif kind == 2:
            n = g.add_node("matmul", [a, b], shape=(2, 2), dtype=F64)
        else:
            n = g.add_node("sum", [a], {"axis": (0,), "keepdims": True}, shape=(1, 2),
                           dtype=F64)
            n = g.add_node("add", [n, b], shape=(2, 2), dtype=F64)
        nodes.append(n)
    g.outputs = [nodes[-1]]
    return g


def reference_groups(graph) -> list[list[int]]:
    """The previous implementation: union-find, and a walk per candidate edge."""
    order = graph.topo_order()
    pos = {n: i for i, n in enumerate(order)}
    fusable = [n for n in order if is_fusable(graph, n)]
    parent, members = {n: n for n in fusable}, {n: [n] for n in fusable}

    def find(n):
        while parent[n] != n:
            n = parent[n]
        return n

    def creates_cycle(pr, cr):
        targets = set(members[cr])
        limit = max(pos[m] for m in targets)
        inside = set(members[pr]) | targets
        stack = [s for m in members[pr] for s in graph.nx.succ[m] if s not in inside]
        seen = set()
        while stack:
            n = stack.pop()
            if n in seen or pos[n] > limit:
                continue
            seen.add(n)
            expand = members[find(n)] if n in parent else (n,)
            seen.update(expand)
            for m in expand:
                for s in graph.nx.succ[m]:
                    if s in targets:
                        return True
                    if s not in inside and s not in seen:
                        stack.append(s)
        return False

    for n in fusable:
        for a in graph.args(n):
            if a in parent:
                ra, rn = find(a), find(n)
                if ra != rn and not creates_cycle(ra, rn):
                    parent[ra] = rn
                    members[rn] += members.pop(ra)
    result = [sorted(m, key=pos.get) for m in members.values() if len(m) > 1]
    return sorted(result, key=lambda m: pos[m[0]])


def quotient_is_acyclic(graph, groups) -> bool:
    group_of = {n: i for i, members in enumerate(groups) for n in members}
    q = nx.DiGraph()
    q.add_nodes_from(("n", n) for n in graph.nx if n not in group_of)
    q.add_nodes_from(("g", i) for i in range(len(groups)))
    key = lambda n: ("g", group_of[n]) if n in group_of else ("n", n)  # noqa: E731
    q.add_edges_from((key(u), key(v)) for u, v in graph.nx.edges() if key(u) != key(v))
    return nx.is_directed_acyclic_graph(q)


choice = st.tuples(st.integers(0, 3), st.integers(0, 10**6), st.integers(0, 10**6))


@settings(max_examples=150, deadline=None)
@given(st.lists(choice, min_size=1, max_size=40), st.integers(1, 4))
def test_groups_equal_the_plain_search(choices, spacing):
    g = random_graph(choices)
    old = fusion.HUB_SPACING
    fusion.HUB_SPACING = spacing  # dense hubs: the masks settle more of the queries
    try:
        groups = find_groups(g)
    finally:
        fusion.HUB_SPACING = old
    assert groups == reference_groups(g)
    assert quotient_is_acyclic(g, groups)


def test_a_relu_fuses_with_its_mask_but_not_with_the_product_through_the_network():
    """x -> tanh -> (matmul chain) -> add(chain, mask(tanh)): tanh and the mask fuse,
    the final add does not join them (the chain runs between)."""
    g = Graph()
    x = g.add_node("input", attrs={"index": 0}, shape=(2, 2), dtype=F64)
    t = g.add_node("tanh", [x], shape=(2, 2), dtype=F64)
    chain = t
    for _ in range(40):
        chain = g.add_node("matmul", [chain, x], shape=(2, 2), dtype=F64)
    mask = g.add_node("tanh", [t], shape=(2, 2), dtype=F64)
    out = g.add_node("add", [chain, mask], shape=(2, 2), dtype=F64)
    g.outputs = [out]
    assert find_groups(g) == [[t, mask]] == reference_groups(g)
