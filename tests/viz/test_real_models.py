"""Default diagrams of real models stay small: one update node per optimizer, no dead
values, deep modules collapsed, fused kernels labelled with every phase they span.

Oracle: the Graphs themselves (their live nodes, their optimizers' parameters, the
phases fusion recorded), the digits MLP of examples/mlp_digits.py and the transformer
encoder of docs/make_images.py (12 pre-norm blocks built from existing ops, Adam),
read back through the DOT reader of the viz tests. The bounds are the view sizes at
the time of writing with some room: a regression that draws every parameter's update
or every op of every block again overshoots them several times.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from viz_helpers import FULL, parse_dot

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.viz import to_dot

sys.path.insert(0, str(Path(__file__).parents[2] / "docs"))

import make_images  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return make_images.mlp_digits()


@pytest.fixture(scope="module")
def transformer():
    return make_images.transformer(layers=12, d=32)


def view(step, **options):
    return parse_dot(to_dot(step, **options).source)


def drawn_graph_nodes(dot) -> list[int]:
    return [int(name[1:]) for name in dot.nodes_with_class("gg-node")]


@pytest.mark.parametrize("part, limit", [("forward", 35), ("backward", 45)])
def test_digits_views_are_small_with_one_update_node(digits, part, limit):
    dot = view(digits, part=part)
    assert len(dot.nodes_with_class("gg-node")) <= limit
    if part == "backward":
        (summary,) = dot.nodes_with_class("kind-update").values()
        assert "6 parameters" in summary["label"]
        assert len(dot.clusters_with_class("gg-update-group")) == 1
        full = view(digits, part=part, **FULL)
        assert len(full.nodes_with_class("gg-node")) > 4 * limit  # what it saves


@pytest.mark.parametrize("part, limit", [("forward", 50), ("backward", 75)])
def test_transformer_views_are_small(transformer, part, limit):
    dot = view(transformer, part=part)
    drawn = len(dot.nodes_with_class("gg-node")) + len(dot.nodes_with_class("gg-summary"))
    assert drawn <= limit
    blocks = [a for a in dot.nodes_with_class("kind-module").values()
              if "model.blocks." in a["label"]]
    assert len(blocks) == 12  # one node per block, named by attribute path
    assert len(view(transformer, part=part, **FULL).nodes_with_class("gg-node")) > 10 * limit


def test_module_depth_draws_deeper_modules(transformer):
    dot = view(transformer, part="forward", module_depth=3)
    labels = " ".join(a["label"] for a in dot.nodes_with_class("kind-module").values())
    assert "model.blocks.3.attn" in labels and "model.blocks.3.mlp" in labels


@pytest.mark.parametrize("fixture", ["digits", "transformer"])
def test_no_dead_nodes_in_the_default_view(request, fixture):
    step = request.getfixturevalue(fixture)
    graph = step.last.graph
    live = graph.live_nodes() | set(graph.inputs)
    for part in ("forward", "backward"):
        assert set(drawn_graph_nodes(view(step, part=part))) <= live


def test_dead_values_are_hidden_unless_asked_for():
    w = gg.ones(3, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)

    @gg.compile
    def step(x):
        opt.zero_grad()
        unused = gg.exp(x * 2.0)  # noqa: F841  (traced, but no result depends on it)
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        return loss

    step(gg.ones(3))
    graph = step.last.graph
    dead = {n for n in graph.nx if n not in graph.live_nodes()} - set(graph.inputs)
    assert {graph[n]["op"] for n in dead} >= {"exp", "mul"}
    assert not dead & set(drawn_graph_nodes(view(step)))
    assert dead & set(drawn_graph_nodes(view(step, dead=True)))


def test_an_update_cluster_per_optimizer():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                          nn.Linear(8, 3))
    first = optim.Adam(list(model[0].parameters()) + list(model[2].parameters()), lr=1e-3)
    last = optim.SGD(model[4].parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    @gg.compile
    def step(x, y):
        first.zero_grad()
        last.zero_grad()
        loss_fn(model(x), y).backward()
        first.step()
        last.step()

    step(gg.tensor(np.zeros((4, 8), np.float32)), gg.tensor(np.zeros(4, np.int64)))
    dot = view(step, part="backward")
    clusters = [a["label"] for a in dot.clusters_with_class("gg-update-group").values()]
    assert sorted(clusters) == ["Adam update", "SGD update"]
    labels = sorted(a["label"] for a in dot.nodes_with_class("kind-update").values())
    assert "4 parameters" in labels[0] and "2 parameters" in labels[1]
    per_param = view(step, part="backward", updates="parameter")
    assert len(per_param.clusters_with_class("gg-update-group")) == 6


def test_a_kernel_fused_across_phases_is_labelled_with_all_of_them():
    step = make_images.autodiff_basics()
    dot = view(step, optimized=True)
    (fused,) = dot.nodes_with_class("kind-fused").values()
    assert "phase-forward+backward+update" in fused["class"]
    assert "forward+backward+update" in fused["label"]
    titles = [a["label"] for a in dot.clusters_with_class("gg-phase").values()]
    assert titles == ["forward + backward + update (fused across phases)"]
