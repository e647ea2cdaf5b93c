"""Module scopes become (optional) clusters; optimizer updates are grouped per parameter.

Oracle: the traced Graph of a 3-layer MLP step whose layers run under scopes "0".."4"
and whose Adam-like update writes (parameter, exp_avg, exp_avg_sq) per parameter: the
expected scope of every node is its `scope` attribute, and the expected update groups
are the parameters, each holding the writes of its own name.
"""

import pytest
from viz_helpers import FULL, mlp_adam_step, parse_dot, traced

from graphgrad.viz import to_dot


@pytest.fixture(scope="module")
def graph():
    step, _ = mlp_adam_step()
    return traced(step)


@pytest.fixture(scope="module")
def dot(graph):
    return parse_dot(to_dot(graph, **FULL).source)


def scope_clusters(dot):
    """cluster name -> the module it stands for (one per module and phase)."""
    return {name: a["tooltip"] for name, a in dot.clusters_with_class("gg-scope").items()}


def scopes_of(dot, name) -> set:
    clusters = scope_clusters(dot)
    return {clusters[c] for c in dot.nodes[name]["_clusters"] if c in clusters}


def test_every_scoped_node_sits_in_its_module_cluster(graph, dot):
    assert set(scope_clusters(dot).values()) == {"0", "1", "2", "3", "4"}
    scoped = [n for n, s in graph.nx.nodes(data="scope") if s]
    assert len(scoped) >= 8
    assert any(graph[n]["phase"] == "backward" for n in scoped)  # backward by module too
    for n in (n for n in scoped if f"n{n}" in dot.nodes):  # (not inlined constants)
        assert graph[n]["scope"] in scopes_of(dot, f"n{n}")
    for name in dot.nodes_with_class("gg-node"):
        data = graph[int(name[1:])]
        for scope in scopes_of(dot, name):
            assert data["scope"] == scope or (data["name"] or "").startswith(scope + ".")


def test_parameters_sit_in_their_module(graph, dot):
    for layer in ("0", "2", "4"):
        for p in ("weight", "bias"):
            n = graph.state_reads[f"{layer}.{p}"]
            assert layer in scopes_of(dot, f"n{n}")
            assert f"<b>{layer}.{p}</b>" in dot.nodes[f"n{n}"]["label"]


def test_scopes_can_be_turned_off(graph):
    plain = parse_dot(to_dot(graph, scopes=False, **FULL).source)
    assert not plain.clusters_with_class("gg-scope")
    assert len(plain.nodes_with_class("gg-node")) == len(parse_dot(
        to_dot(graph, **FULL).source).nodes_with_class("gg-node"))


def test_one_update_group_per_parameter_holding_its_writes(graph, dot):
    groups = dot.clusters_with_class("gg-update-group")
    params = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert sorted(a["label"] for a in groups.values()) == sorted(f"update {p}" for p in params)
    label_of = {name: a["label"] for name, a in groups.items()}
    writes = dot.nodes_with_class("gg-write")
    assert len(writes) == len(params) * 3
    for attrs in writes.values():
        (group,) = [label_of[c] for c in attrs["_clusters"] if c in label_of]
        written = attrs["label"].split("</b>")[0].removeprefix("<b>")
        param = group.removeprefix("update ")
        assert written in (param, f"adam.{param}.exp_avg", f"adam.{param}.exp_avg_sq")


def test_update_nodes_all_belong_to_a_group(graph, dot):
    label_of = {name: a["label"] for name, a in dot.clusters_with_class("gg-update-group").items()}
    update_nodes = [n for n, p in graph.nx.nodes(data="phase")
                    if p == "update" and f"n{n}" in dot.nodes
                    and graph[n]["op"] not in ("const", "state", "input")]
    assert len(update_nodes) > 50
    for n in update_nodes:
        assert any(c in label_of for c in dot.nodes[f"n{n}"]["_clusters"])
