"""The DOT of a train step has exactly the Graph's nodes and edges, view by view.

Oracle: the Graph itself. Expected counts are computed from `graph.nx` directly
(which nodes have which phase, which edges join them), independently of viz's
selection code, and compared with what a small DOT reader finds in the source.
"""

import pytest
from viz_helpers import FULL, graph_node, parse_dot, two_layer_sgd_step

import graphgrad as gg
from graphgrad.ir.graph import SOURCE_OPS
from graphgrad.viz import to_dot

BACKWARD = {"backward", "update"}


@pytest.fixture
def graph():
    step, _ = two_layer_sgd_step()
    return gg.trace(step, gg.Spec((5, 4)), gg.Spec((5, 3)))


def graph_node_names(dot):
    return {name for name in dot.nodes_with_class("gg-node")}


def test_both_parts_draw_every_node_and_edge(graph):
    dot = parse_dot(to_dot(graph, inline_constants=False, **FULL).source)
    assert graph_node_names(dot) == {f"n{n}" for n in graph.nx.nodes}
    edges = dot.edges_with_class("gg-edge")
    assert len(edges) == graph.nx.number_of_edges()
    assert sorted((graph_node(u), graph_node(v)) for u, v, _ in edges) == \
        sorted(graph.nx.edges())


def test_sources_read_in_several_phases_are_drawn_again_there(graph):
    dot = parse_dot(to_dot(graph, **FULL).source)
    phase_of = {name: a["class"].split()[-1].removeprefix("phase-")
                for name, a in dot.clusters_with_class("gg-phase").items()}
    refs = dot.nodes_with_class("gg-ref")
    expected = set()
    for n in (graph.state_reads["H1"], graph.state_reads["H2"], graph.inputs[0]):
        phases = {graph[u]["phase"] for u in graph.users(n)}
        assert len(phases) > 1  # H1/H2: forward and update (and backward); x: fwd and bwd
        expected |= {f"n{n}_{p}" for p in phases - {"forward"}}
    assert set(refs) == expected
    for u, v, _ in dot.edges_with_class("gg-edge"):
        if u in refs:
            (cluster,) = [c for c in dot.nodes[v]["_clusters"] if c in phase_of]
            assert phase_of[cluster] == u.split("_")[1]


def test_every_node_carries_its_phase(graph):
    dot = parse_dot(to_dot(graph, inline_constants=False, **FULL).source)
    for name, attrs in dot.nodes_with_class("gg-node").items():
        assert f"phase-{graph[int(name[1:])]['phase']}" in attrs["class"].split()
    assert {"forward", "backward", "update"} <= set(graph.nodes_by_phase())


def test_scalar_constants_are_inlined_not_dropped(graph):
    scalars = {n for n, d in graph.nx.nodes(data=True)
               if d["op"] == "const" and d["shape"] == () and graph.users(n)}
    assert scalars, "the step multiplies by scalar constants"
    dot = parse_dot(to_dot(graph, **FULL).source)
    assert graph_node_names(dot) == {f"n{n}" for n in graph.nx.nodes if n not in scalars}
    expected = [(u, v) for u, v in graph.nx.edges() if u not in scalars]
    assert len(dot.edges_with_class("gg-edge")) == len(expected)
    for u in scalars:  # e.g. mul(·, 0.1): the value appears in each user's label
        value = f"{float(graph[u]['attrs']['value']):.4g}"
        for v in graph.users(u):
            assert f"{graph[v]['op']}(" in dot.nodes[f"n{v}"]["label"]
            assert value in dot.nodes[f"n{v}"]["label"]


def test_forward_view(graph):
    dot = parse_dot(to_dot(graph, "forward", inline_constants=False, **FULL).source)
    computed = {n for n, d in graph.nx.nodes(data=True)
                if d["op"] not in SOURCE_OPS and d["phase"] == "forward"}
    sources = {u for n in computed for u in graph.args(n)} - computed
    expected = computed | sources | set(graph.inputs)
    assert graph_node_names(dot) == {f"n{n}" for n in expected}
    assert not dot.nodes_with_class("gg-ghost")
    assert len(dot.edges_with_class("gg-edge")) == sum(graph.nx.in_degree(n) for n in computed)
    assert not dot.edges_with_class("gg-saved")


def test_backward_view_shows_forward_values_as_ghosts_with_dashed_edges(graph):
    dot = parse_dot(to_dot(graph, "backward", inline_constants=False, **FULL).source)
    computed = {n for n, d in graph.nx.nodes(data=True)
                if d["op"] not in SOURCE_OPS and d["phase"] in BACKWARD}
    used_forward = {u for n in computed for u in graph.args(n)
                    if graph[u]["op"] not in SOURCE_OPS and graph[u]["phase"] not in BACKWARD}
    assert used_forward, "backward reads saved forward values"
    assert set(dot.nodes_with_class("gg-ghost")) == {f"n{n}" for n in used_forward}
    assert not {f"n{n}" for n in used_forward} & graph_node_names(dot)
    saved = dot.edges_with_class("gg-saved")
    assert len(saved) == sum(1 for u, v in graph.nx.edges()
                             if u in used_forward and v in computed)
    assert all(attrs["style"] == "dashed" for _, _, attrs in saved)


def test_saved_edges_in_the_full_view_are_dashed(graph):
    dot = parse_dot(to_dot(graph, **FULL).source)
    expected = [(f"n{u}", f"n{v}") for u, v in graph.nx.edges()
                if graph[u]["op"] not in SOURCE_OPS and graph[u]["phase"] == "forward"
                and graph[v]["phase"] in BACKWARD]
    saved = dot.edges_with_class("gg-saved")
    assert sorted((u, v) for u, v, _ in saved) == sorted(expected)
    others = [a for a in dot.edges_with_class("gg-edge") if "gg-saved" not in a[2]["class"]]
    assert all(a[2].get("style") != "dashed" for a in others)


def test_phase_clusters_hold_their_phase(graph):
    dot = parse_dot(to_dot(graph, **FULL).source)
    phase_of_cluster = {name: next(c for c in attrs["class"].split() if c.startswith("phase-"))
                        for name, attrs in dot.clusters_with_class("gg-phase").items()}
    assert sorted(phase_of_cluster.values()) == ["phase-backward", "phase-forward",
                                                 "phase-update"]
    for name, attrs in dot.nodes_with_class("gg-node").items():
        data = graph[int(name[1:])]
        if data["op"] in SOURCE_OPS:
            continue
        (cluster,) = [c for c in attrs["_clusters"] if c in phase_of_cluster]
        assert phase_of_cluster[cluster] == f"phase-{data['phase']}"


def test_unknown_part_is_refused(graph):
    with pytest.raises(gg.GraphgradError, match="part="):
        to_dot(graph, "sideways", **FULL)
