"""Notebook display: graphs and compiled functions show their diagram as SVG.

Oracle: the Graph's node count against the SVG's node groups; objects with nothing
to draw (a compiled function not yet called, a graph too big to show inline, no
Graphviz) must fall back to text that says why, never raise inside the notebook.
"""

import types

import numpy as np
import pytest
from viz_helpers import FULL, needs_dot, parse_dot, svg_groups, two_layer_sgd_step

import graphgrad as gg
from graphgrad.ir.graph import Graph
from graphgrad.viz import api, repr_mimebundle, repr_svg, to_dot


@pytest.fixture
def graph():
    step, _ = two_layer_sgd_step()
    return gg.trace(step, gg.Spec((5, 4)), gg.Spec((5, 3)))


@needs_dot
def test_graph_shows_svg(graph):
    bundle = repr_mimebundle(graph)
    assert set(bundle) == {"image/svg+xml", "text/plain"}
    nodes = [g for g in svg_groups(bundle["image/svg+xml"]) if "gg-node" in g["class"]]
    assert len(nodes) == len(parse_dot(to_dot(graph).source).nodes_with_class("gg-node"))
    assert repr_svg(graph) == bundle["image/svg+xml"]
    assert set(repr_mimebundle(graph, include={"text/plain"})) == {"text/plain"}
    assert set(repr_mimebundle(graph, exclude={"text/plain"})) == {"image/svg+xml"}


@needs_dot
def test_graph_repr_hook(graph):
    bundle = graph._repr_mimebundle_()
    assert "image/svg+xml" in bundle


@needs_dot
def test_compiled_entry_is_drawn_from_its_cache(graph):
    entry = types.SimpleNamespace(graph=graph, optimized=graph)
    fn = types.SimpleNamespace(entries={("sig",): [entry]}, last=entry, __qualname__="step")
    assert "image/svg+xml" in repr_mimebundle(fn)
    assert to_dot(fn, signature=("sig",), **FULL).source == to_dot(fn, **FULL).source
    with pytest.raises(gg.GraphgradError, match="no compiled entry"):
        to_dot(fn, signature=("other",), **FULL)


def test_uncalled_compiled_function_says_so():
    fn = types.SimpleNamespace(entries={}, last=None, __qualname__="step")
    bundle = repr_mimebundle(fn)
    assert set(bundle) == {"text/plain"} and "call it once" in bundle["text/plain"]
    assert repr_svg(fn) is None


def test_big_graph_is_not_drawn_inline(monkeypatch):
    g = Graph()
    x = g.add_node("input", attrs={"index": 0}, shape=(2,), dtype=np.dtype("float32"), name="x")
    g.inputs.append(x)
    g.outputs = [g.add_node("neg", [x], shape=(2,), dtype=np.dtype("float32"))]
    monkeypatch.setattr(api, "INLINE_LIMIT", 1)
    assert "too big" in repr_mimebundle(g)["text/plain"]


def test_no_graphviz_falls_back_to_text(graph, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    bundle = repr_mimebundle(graph)
    assert set(bundle) == {"text/plain"} and "brew install graphviz" in bundle["text/plain"]
