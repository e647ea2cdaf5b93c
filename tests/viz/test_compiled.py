"""Diagrams of gg.compile'd train steps: the two-layer ERM network and the digits MLP.

Oracle: each compiled function's own cache entry (`fn.last.graph`, `.optimized`).
The expected drawn nodes of a view are computed here from the Graph (computed nodes
of the view's phases plus the sources they read, scalar constants inlined), and the
SVG that `dot` writes must hold exactly that many node groups, the parameters'
names, the phases, and one fused cluster per fused node of the optimized graph. A
fused group that mixes a forward op with backward ones counts as forward.
"""

import math

import pytest
from viz_helpers import FULL, needs_dot, parse_dot, svg_groups

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.ir.graph import SOURCE_OPS
from graphgrad.viz import render, to_dot

PARTS = {"forward": {"forward"}, "backward": {"backward", "update"}}


class TwoLayerNN(nn.Module):
    def __init__(self, d_in=10, hidden=16, d_out=3):
        super().__init__()
        self.H1 = nn.Parameter(gg.randn(d_in, hidden) * math.sqrt(2.0 / d_in))
        self.H2 = nn.Parameter(gg.randn(hidden, d_out) * math.sqrt(1.0 / hidden))

    def forward(self, x):
        return gg.relu(x @ self.H1) @ self.H2


def compiled_step(model, loss_fn, opt, x, y):
    @gg.compile
    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    train_step(x, y)
    return train_step


@pytest.fixture(scope="module")
def two_layer():
    model = TwoLayerNN()
    return compiled_step(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05),
                         gg.randn(32, 10), gg.randn(32, 3))


@pytest.fixture(scope="module")
def digits_mlp():
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    return compiled_step(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
                         gg.rand(64, 64), gg.randint(0, 10, (64,)))


def drawn_phases(graph, n) -> set:
    """The phases whose views draw a node: its own, but a fused node shows in the view
    of every phase its ops came from (the `phases` fusion records)."""
    return set(graph[n].get("phases") or (graph[n]["phase"],))


def expected_nodes(graph, phases):
    """The Graph nodes a view of `phases` draws, computed from the Graph directly."""
    computed = {n for n, d in graph.nx.nodes(data=True)
                if d["op"] not in SOURCE_OPS and drawn_phases(graph, n) & set(phases)}
    sources = {u for n in computed for u in graph.args(n) if graph[u]["op"] in SOURCE_OPS}
    if "forward" in phases:
        sources |= set(graph.inputs)
    inlined = {n for n in sources if graph[n]["op"] == "const" and graph[n]["shape"] == ()}
    return computed | (sources - inlined)


def svg_of(fn, tmp_path, part, optimized=False):
    name = f"{part}{'_opt' if optimized else ''}.svg"
    path = render(fn, tmp_path / name, part=part, optimized=optimized, **FULL)
    return svg_groups(path.read_text())


@needs_dot
@pytest.mark.parametrize("fixture", ["two_layer", "digits_mlp"])
@pytest.mark.parametrize("optimized", [False, True])
@pytest.mark.parametrize("part", ["forward", "backward"])
def test_svg_node_count_matches_the_graph(request, tmp_path, fixture, optimized, part):
    fn = request.getfixturevalue(fixture)
    graph = fn.last.optimized if optimized else fn.last.graph
    groups = svg_of(fn, tmp_path, part, optimized)
    nodes = [g for g in groups if "gg-node" in g["class"]]
    assert sorted(int(g["id"][1:]) for g in nodes) == sorted(expected_nodes(graph, PARTS[part]))
    edges = [g for g in groups if "gg-edge" in g["class"]]
    drawn = expected_nodes(graph, PARTS[part])
    assert len(edges) == sum(1 for u, v in graph.nx.edges() if v in drawn and (
        u in drawn or graph[u]["op"] not in SOURCE_OPS))
    if part == "backward":
        assert any("gg-saved" in g["class"] for g in edges)  # uses saved forward values
        assert any("phase-update" in g["class"] for g in nodes)


@needs_dot
def test_two_layer_names_and_fused_update(two_layer, tmp_path):
    text = render(two_layer, tmp_path / "both.svg", optimized=True, **FULL).read_text()
    names = [n for n in two_layer.last.graph.state_reads if n.endswith(("H1", "H2"))]
    assert len(names) == 2  # e.g. model.H1, model.H2
    assert all(f">{name}<" in text for name in names)
    fused = [n for n, op in two_layer.last.optimized.nx.nodes(data="op") if op == "fused"]
    assert fused, "the default passes fuse the SGD update"
    groups = svg_groups(text)
    assert sum("gg-fused" in g["class"] for g in groups) == len(fused)


def test_digits_mlp_modules_parameters_and_update_groups(digits_mlp):
    dot = parse_dot(to_dot(digits_mlp, **FULL).source)
    labels = " ".join(a["label"] for a in dot.nodes_with_class("gg-node").values())
    params = [name for name in digits_mlp.last.graph.state_reads
              if name.endswith((".weight", ".bias")) and "exp_avg" not in name]
    assert len(params) == 6
    for name in params:
        assert f"<b>{name}</b>" in labels
    scopes = {a["tooltip"] for a in dot.clusters_with_class("gg-scope").values()}
    assert {p.rsplit(".", 1)[0] for p in params} <= scopes  # one cluster per Linear
    groups = {a["label"] for a in dot.clusters_with_class("gg-update-group").values()}
    assert groups == {f"update {p}" for p in params}


def test_compiled_fn_without_a_call_is_explained():
    fn = gg.compile(lambda x: x * 2)
    with pytest.raises(gg.GraphgradError, match="call it once"):
        to_dot(fn, **FULL)
