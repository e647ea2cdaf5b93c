"""Fused groups are drawn as clusters that list the ops they replaced.

Oracle: a hand-built optimized Graph whose fused node's `FusedProgram` we wrote
ourselves (ops mul, sub with known source lines, two outputs picked by `get` nodes),
so the expected cluster contents and labels are known exactly.
"""

import numpy as np
import pytest
from viz_helpers import FULL, needs_dot, parse_dot, svg_groups

from graphgrad.ir.fused import FusedProgram, Step
from graphgrad.ir.graph import Graph
from graphgrad.viz import to_dot

F32 = np.dtype("float32")


@pytest.fixture
def graph():
    g = Graph()
    x = g.add_node("input", attrs={"index": 0}, shape=(4,), dtype=F32, name="x")
    g.inputs.append(x)
    w = g.add_node("state", shape=(4,), dtype=F32, name="0.weight")
    g.state_reads["0.weight"] = w
    program = FusedProgram(
        input_types=(((4,), F32), ((4,), F32)),
        steps=(Step("mul", (0, 1), {}, (4,), F32, "train.py:10"),
               Step("sub", (1, 2), {}, (4,), F32, "train.py:11")),
        outputs=(2, 3))
    fused = g.add_node("fused", [x, w], {"program": program}, shape=(4,), dtype=F32,
                       phase="update", source="train.py:10")
    get0 = g.add_node("get", [fused], {"index": 0}, shape=(4,), dtype=F32, phase="update")
    get1 = g.add_node("get", [fused], {"index": 1}, shape=(4,), dtype=F32, phase="update")
    total = g.add_node("sum", [get0], {"axis": None, "keepdims": False}, shape=(), dtype=F32)
    g.outputs = [total]
    g.state_writes["0.weight"] = get1
    g.verify()
    return g


def test_fused_node_and_its_gets_share_one_cluster(graph):
    dot = parse_dot(to_dot(graph, **FULL).source)
    (cluster, attrs), = dot.clusters_with_class("gg-fused").items()
    assert "mul, sub" in attrs["label"]
    fused, get0, get1 = (n for n, d in graph.nx.nodes(data=True) if d["op"] in ("fused", "get"))
    for n in (fused, get0, get1):
        assert cluster in dot.nodes[f"n{n}"]["_clusters"]
    others = [name for name, a in dot.nodes.items() if cluster in a.get("_clusters", [])]
    assert sorted(others) == sorted(f"n{n}" for n in (fused, get0, get1))
    assert "fused" in dot.nodes["legend"]["label"]


def test_fused_tooltip_lists_program_and_source_lines(graph):
    dot = parse_dot(to_dot(graph, **FULL).source)
    (fused,) = [n for n, d in graph.nx.nodes(data=True) if d["op"] == "fused"]
    tooltip = dot.nodes[f"n{fused}"]["tooltip"]
    assert tooltip.splitlines()[0] == "train.py:10"
    assert "r2 = mul(r0, r1)" in tooltip and "r3 = sub(r1, r2)" in tooltip
    assert "train.py:10, train.py:11" in tooltip
    assert "\u00d72" in dot.nodes[f"n{fused}"]["label"]  # "fused ×2"


def test_state_write_from_a_get_node(graph):
    dot = parse_dot(to_dot(graph, **FULL).source)
    get1 = graph.state_writes["0.weight"]
    assert (f"n{get1}", "w0") in {(u, v) for u, v, _ in dot.edges}
    assert "0.weight" in dot.nodes["w0"]["label"]


@needs_dot
def test_fused_cluster_in_svg(graph):
    svg = to_dot(graph, **FULL).pipe(format="svg", encoding="utf-8")
    groups = svg_groups(svg)
    fused = [g for g in groups if "gg-fused" in g["class"]]
    assert len(fused) == 1 and "cluster" in fused[0]["class"]
    assert len([g for g in groups if "gg-node" in g["class"]]) == len(graph)


def test_fused_node_producing_a_forward_value_is_drawn_in_forward(graph):
    fused = next(n for n, op in graph.nx.nodes(data="op") if op == "fused")
    get0 = next(u for u in graph.users(fused) if graph[u]["attrs"]["index"] == 0)
    graph[get0]["phase"] = "forward"  # e.g. relu's output, fused with backward's mask
    forward = parse_dot(to_dot(graph, "forward", **FULL).source)
    assert "phase-forward" in forward.nodes[f"n{fused}"]["class"]
    assert "gg-node" in forward.nodes[f"n{fused}"]["class"]
    update = parse_dot(to_dot(graph, "update", **FULL).source)
    assert "gg-ghost" in update.nodes[f"n{fused}"]["class"]  # get 1 is drawn, its source not
