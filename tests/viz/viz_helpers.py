"""Shared by the viz tests: a small DOT reader and the train steps the diagrams draw.

`parse_dot` reads the DOT that `graphviz.Digraph.source` writes (statements, quoted
and HTML strings, nested subgraphs) so tests can count nodes and edges without
needing the `dot` program. The steps are written the way users write them, with
`loss.backward()` and in-place updates under `gg.no_grad()` marked as the update phase.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest

import graphgrad as gg
from graphgrad.ir import tracing

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's `dot` program is not installed")

_TOKEN = re.compile(r'\s*(?:(->)|([{}\[\];,=])|"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_.\-]+)|(<))',
                    re.S)
_SPACE = re.compile(r"\s*")


# The full view: every node drawn (dead values, each parameter's update, no module
# collapsed), for the tests that count a diagram against its whole Graph.
FULL = {"dead": True, "updates": "parameter", "max_nodes": None}


def _tokens(text: str):
    i = 0
    while True:
        i = _SPACE.match(text, i).end()
        if i == len(text):
            return
        m = _TOKEN.match(text, i)
        assert m, f"cannot read DOT at {text[i:i + 40]!r}"
        if m.group(5):  # an HTML string: balanced <...>
            start, depth, j = m.end(5), 1, m.end(5)
            while depth:
                depth += {"<": 1, ">": -1}.get(text[j], 0)
                j += 1
            yield ("html", text[start:j - 1])
            i = j
            continue
        arrow, punct, quoted, ident = m.group(1, 2, 3, 4)
        if quoted is not None:
            yield ("id", quoted.replace('\\"', '"'))
        else:
            yield ("punct", arrow or punct) if (arrow or punct) else ("id", ident)
        i = m.end()


@dataclass
class Dot:
    nodes: dict = field(default_factory=dict)  # name -> attrs (with "_clusters": [names])
    edges: list = field(default_factory=list)  # (u, v, attrs)
    clusters: dict = field(default_factory=dict)  # name -> graph attrs (with "_parent")

    def nodes_with_class(self, cls: str) -> dict:
        return {n: a for n, a in self.nodes.items() if cls in a.get("class", "").split()}

    def edges_with_class(self, cls: str) -> list:
        return [e for e in self.edges if cls in e[2].get("class", "").split()]

    def clusters_with_class(self, cls: str) -> dict:
        return {n: a for n, a in self.clusters.items() if cls in a.get("class", "").split()}


def graph_node(name: str) -> int:
    """The Graph node a DOT node draws: `n12`, or `n12_update` (node 12 drawn again)."""
    return int(name[1:].split("_")[0])


def parse_dot(source: str) -> Dot:
    toks = list(_tokens(source))
    dot, stack, i = Dot(), [], 0

    def attrs_at(j):
        out = {}
        if j < len(toks) and toks[j] == ("punct", "["):
            j += 1
            while toks[j] != ("punct", "]"):
                if toks[j][1] in (",", ";"):
                    j += 1
                    continue
                key, value = toks[j][1], toks[j + 2][1]
                out[key] = value
                j += 3
            j += 1
        return out, j

    while i < len(toks):
        kind, val = toks[i]
        if val in ("digraph", "subgraph") and kind == "id":
            name = toks[i + 1][1]
            if val == "subgraph":
                dot.clusters[name] = {"_parent": next((c for c in reversed(stack) if c), None)}
            stack.append(name)
            i += 3
        elif val == "{":  # an anonymous subgraph, e.g. {rank=same; a; b}
            stack.append(None)
            i += 1
        elif val == "}":
            stack.pop()
            i += 1
        elif val in ("graph", "node", "edge") and kind == "id":
            attrs, i = attrs_at(i + 1)
            if val == "graph" and len(stack) > 1:
                dot.clusters[stack[-1]].update(attrs)
        elif val == ";":
            i += 1
        elif i + 1 < len(toks) and toks[i + 1] == ("punct", "->"):
            attrs, j = attrs_at(i + 3)
            dot.edges.append((val, toks[i + 2][1], attrs))
            i = j
        elif i + 1 < len(toks) and toks[i + 1] == ("punct", "="):
            i += 3
        else:
            attrs, i = attrs_at(i + 1)
            if val in dot.nodes:  # mentioned again (e.g. in a rank constraint)
                dot.nodes[val].update(attrs)
            else:
                dot.nodes[val] = attrs | {"_clusters": [c for c in stack[1:] if c]}
    return dot


def svg_groups(svg: str) -> list:
    """The `<g>` elements of an SVG with their class, id, title and tooltip."""
    ns = {"svg": "http://www.w3.org/2000/svg", "xlink": "http://www.w3.org/1999/xlink"}
    root = ET.fromstring(svg)
    out = []
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        title = g.find("svg:title", ns)
        link = g.find(".//svg:a", ns)
        out.append({"class": (g.get("class") or "").split(), "id": g.get("id"),
                    "title": title.text if title is not None else None,
                    "tooltip": link.get("{http://www.w3.org/1999/xlink}title")
                    if link is not None else None})
    return out


# ---------------------------------------------------------------------- train steps
def _scope(name):
    return tracing.current.in_scope(name) if tracing.current else contextlib.nullcontext()


def two_layer_sgd_step():
    """relu(x @ H1) @ H2, squared error, SGD: the function and its (H1, H2)."""
    H1 = gg.randn(4, 8, requires_grad=True)
    H2 = gg.randn(8, 3, requires_grad=True)

    def step(x, y):
        tracing.name_state(H1, "H1")
        tracing.name_state(H2, "H2")
        loss = ((gg.relu(x @ H1) @ H2 - y) ** 2).mean()
        loss.backward()
        with gg.no_grad(), tracing.phase("update"):
            for h in (H1, H2):
                h.sub_(0.1 * h.grad)
                h.grad = None
        return loss

    return step, (H1, H2)


def mlp_adam_step(sizes=((64, 32), (32, 32), (32, 10))):
    """A Sequential-like MLP (module scopes "0", "1", ...) with an Adam-like update."""
    params = {}
    for i, (a, b) in enumerate(sizes):
        params[f"{2 * i}.weight"] = (gg.randn(a, b) * 0.1).requires_grad_()
        params[f"{2 * i}.bias"] = gg.zeros(b).requires_grad_()
    moments = {k: (gg.zeros(*p.shape), gg.zeros(*p.shape)) for k, p in params.items()}

    def step(x, y):
        for k, p in params.items():
            tracing.name_state(p, k)
            tracing.name_state(moments[k][0], f"adam.{k}.exp_avg")
            tracing.name_state(moments[k][1], f"adam.{k}.exp_avg_sq")
        h = x
        for i in range(len(sizes)):
            with _scope(str(2 * i)):
                h = h @ params[f"{2 * i}.weight"] + params[f"{2 * i}.bias"]
            if i < len(sizes) - 1:
                with _scope(str(2 * i + 1)):
                    h = gg.relu(h)
        loss = -(gg.log_softmax(h, 1) * gg.one_hot(y, sizes[-1][1])).sum(1).mean()
        loss.backward()
        with gg.no_grad(), tracing.phase("update"):
            for k, p in params.items():
                m, v = moments[k]
                m.mul_(0.9).add_(0.1 * p.grad)
                v.mul_(0.999).add_(0.001 * p.grad * p.grad)
                p.sub_(0.001 * m / (v.sqrt() + 1e-8))
                p.grad = None
        return loss

    return step, params


def traced(step, batch=32, features=64, classes_dtype="int64"):
    return gg.trace(step, gg.Spec((batch, features)), gg.Spec((batch,), classes_dtype))
