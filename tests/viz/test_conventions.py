"""Diagram conventions: names, kinds, labels, state writes, outputs, legend, tooltips.

Oracle: the Graph's own node attributes (name, op, shape, dtype, source, phase) and
its `state_writes` / `outputs`; the diagram must show each of them where the
conventions say (checked on the DOT source).
"""

import pytest
from viz_helpers import FULL, parse_dot, two_layer_sgd_step

import graphgrad as gg
from graphgrad.dtypes import short
from graphgrad.viz import to_dot


@pytest.fixture
def graph():
    step, _ = two_layer_sgd_step()
    return gg.trace(step, gg.Spec((5, 4)), gg.Spec((5, 3)))


@pytest.fixture
def dot(graph):
    return parse_dot(to_dot(graph, inline_constants=False, **FULL).source)


def node(dot, n):
    return dot.nodes[f"n{n}"]


def test_parameters_and_inputs_are_labelled_with_their_names(graph, dot):
    for name in ("H1", "H2"):
        n = graph.state_reads[name]
        assert f"<b>{name}</b>" in node(dot, n)["label"]
        assert "kind-state" in node(dot, n)["class"]
    for n, name in zip(graph.inputs, ("x", "y")):
        assert f"<b>{name}</b>" in node(dot, n)["label"]
        assert "kind-input" in node(dot, n)["class"]


def test_labels_give_op_and_output_type(graph, dot):
    for n, data in graph.nx.nodes(data=True):
        label = node(dot, n)["label"]
        typ = f"{short(data['dtype'])}[{','.join(map(str, data['shape']))}]"
        assert typ in label
        if data["op"] not in ("input", "state", "const"):
            assert f"<b>{data['op']}" in label


def test_kinds_look_different(graph, dot):
    looks = {}
    for attrs in dot.nodes_with_class("gg-node").values():
        kind = next(c for c in attrs["class"].split() if c.startswith("kind-"))
        phase = next(c for c in attrs["class"].split() if c.startswith("phase-"))
        key = kind if kind != "kind-op" else f"{kind} {phase}"
        looks.setdefault(key, set()).add((attrs["fillcolor"], attrs["color"], attrs["style"]))
    assert {"kind-input", "kind-state", "kind-const", "kind-op phase-forward",
            "kind-op phase-backward", "kind-op phase-update"} <= set(looks)
    assert all(len(v) == 1 for v in looks.values()), looks
    assert len({next(iter(v)) for v in looks.values()}) == len(looks)


def test_each_state_write_is_drawn_from_its_writer(graph, dot):
    writes = {name: w for name, w in graph.state_writes.items() if w is not None}
    assert set(writes) == {"H1", "H2"}
    drawn = dot.nodes_with_class("gg-write")
    assert len(drawn) == len(writes)
    write_edges = {(u, v) for u, v, _ in dot.edges_with_class("gg-write-edge")}
    for name, w in writes.items():
        (target,) = [k for k, a in drawn.items() if f"<b>{name}</b>" in a["label"]]
        assert (f"n{w}", target) in write_edges
        assert graph[w]["phase"] == "update"


def test_outputs_are_marked(graph, dot):
    outs = dot.nodes_with_class("gg-output")
    assert len(outs) == len(graph.outputs) == 1
    assert (f"n{graph.outputs[0]}", "o0") in {(u, v) for u, v, _ in dot.edges}


def test_tooltips_carry_the_users_file_and_line(graph, dot):
    computed = [n for n, d in graph.nx.nodes(data=True) if d["op"] not in ("input", "const")]
    for n in computed:
        source = graph[n]["source"]
        assert source.startswith("viz_helpers.py:")  # the line in the step, not graphgrad's
        assert node(dot, n)["tooltip"].splitlines()[0] == source


def test_legend_lists_what_is_drawn(dot):
    legend = dot.nodes["legend"]["label"]
    for text in ("input", "parameter", "forward op", "backward op", "optimizer update op",
                 "state written", "forward value used by backward"):
        assert text in legend
    assert "fused" not in legend  # no fused group in a traced (unoptimized) graph


def test_legend_can_be_left_out(graph):
    assert "legend" not in parse_dot(to_dot(graph, legend=False, **FULL).source).nodes
