"""`render` writes the format its file name asks for; without `dot` it explains and saves DOT.

Oracles: file signatures (SVG root element, PNG and PDF magic bytes), the Graph's
node count against the SVG's node groups, and the user's `file:line` in the SVG
tooltips. Missing Graphviz is simulated by emptying PATH, which is how the
`graphviz` package finds `dot`.
"""

import pytest
from viz_helpers import FULL, needs_dot, parse_dot, svg_groups, two_layer_sgd_step

import graphgrad as gg
from graphgrad.viz import GraphvizMissing, render


@pytest.fixture
def graph():
    step, _ = two_layer_sgd_step()
    return gg.trace(step, gg.Spec((5, 4)), gg.Spec((5, 3)))


@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"),
                                           (".pdf", b"%PDF")])
def test_format_follows_the_suffix(graph, tmp_path, suffix, magic):
    path = render(graph, tmp_path / f"step{suffix}", **FULL)
    assert path.read_bytes().startswith(magic)
    assert not (tmp_path / "step.dot").exists()  # no stray source next to a good render


def test_dot_suffix_writes_the_source(graph, tmp_path):
    path = render(graph, tmp_path / "step.dot", inline_constants=False, **FULL)
    assert len(parse_dot(path.read_text()).nodes_with_class("gg-node")) == len(graph)


@needs_dot
def test_svg_nodes_phases_and_tooltips(graph, tmp_path):
    path = render(graph, tmp_path / "step.svg", inline_constants=False, **FULL)
    groups = svg_groups(path.read_text())
    nodes = [g for g in groups if "gg-node" in g["class"]]
    assert len(nodes) == len(graph)
    for phase, count in graph.nodes_by_phase().items():
        assert sum(f"phase-{phase}" in g["class"] for g in nodes) == count
    edges = [g for g in groups if "gg-edge" in g["class"]]
    assert len(edges) == graph.nx.number_of_edges()
    tooltips = {g["id"]: g["tooltip"] for g in nodes}
    for n, data in graph.nx.nodes(data=True):
        if data["op"] not in ("input", "const"):
            assert tooltips[f"n{n}"].startswith(data["source"])


def test_unknown_suffix_is_refused(graph, tmp_path):
    with pytest.raises(gg.GraphgradError, match=r"\.svg"):
        render(graph, tmp_path / "step.jpeg2000", **FULL)


def test_missing_dot_explains_how_to_install_and_writes_the_source(graph, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GraphvizMissing) as err:
        render(graph, tmp_path / "out" / "step.svg", **FULL)
    message = str(err.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install"):
        assert hint in message
    source = tmp_path / "out" / "step.dot"
    assert str(source) in message and source.exists()
    assert parse_dot(source.read_text()).nodes_with_class("gg-node")
    assert not (tmp_path / "out" / "step.svg").exists()
    assert isinstance(err.value, gg.GraphgradError)
