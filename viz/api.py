"""`to_dot`, `render` and the Jupyter hooks: from whatever the user holds to a picture.

`obj` may be a `Graph`, a compiled function (its newest cache entry, or the one for
`signature`), a cache entry itself (anything with `.graph` and `.optimized`), or an
eager Tensor / list of Tensors (its recorded history).
"""

from __future__ import annotations

import os
from pathlib import Path

import graphviz

from graphgrad.errors import GraphgradError
from graphgrad.ir.graph import Graph
from graphgrad.tensor import Tensor

from .collapse import MAX_NODES
from .dot import graph_to_dot
from .eager import graph_of_tensors
from .select import ViewOptions

FORMATS = ("svg", "png", "pdf", "dot", "gv")
INLINE_LIMIT = 2000  # nodes; bigger graphs are not drawn inline in notebooks

INSTALL_HINT = (
    "Graphviz's `dot` program is not installed (or not on PATH); the `graphviz` Python "
    "package only drives it. Install it with one of: `sudo apt-get install graphviz` "
    "(Debian/Ubuntu), `brew install graphviz` (macOS), `conda install -c conda-forge "
    "graphviz`, `winget install graphviz` (Windows); see https://graphviz.org/download/.")


class GraphvizMissing(GraphgradError, RuntimeError):
    """Rendering needs Graphviz's `dot` program, which is not installed."""


def _entry_of(fn, signature):
    entries = getattr(fn, "entries", None) or {}
    if signature is not None:
        if signature not in entries:
            raise GraphgradError(f"{_name(fn)} has no compiled entry for signature "
                                 f"{signature!r}; it has: {list(entries) or 'none'}")
        entry = entries[signature]
        return entry[-1] if isinstance(entry, list) else entry
    entry = getattr(fn, "last", None)
    if entry is None:
        raise GraphgradError(f"{_name(fn)} has not been compiled yet: call it once (it traces "
                             "on its first call), then draw it")
    return entry


def _name(obj) -> str:
    return getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) \
        or type(obj).__name__


def resolve(obj, *, optimized: bool = False, signature=None, params=None) -> tuple[Graph, str]:
    """(the Graph to draw, a title) for any object `to_dot` accepts."""
    if isinstance(obj, Graph):
        return obj, ""
    if isinstance(obj, Tensor) or (isinstance(obj, (list, tuple)) and obj
                                   and all(isinstance(t, Tensor) for t in obj)):
        return graph_of_tensors(obj, params), "recorded history (eager)"
    if hasattr(obj, "graph") and hasattr(obj, "optimized"):
        entry, title = obj, ""
    elif hasattr(obj, "entries") or hasattr(obj, "last"):
        entry, title = _entry_of(obj, signature), _name(obj)
    else:
        raise GraphgradError(
            f"cannot draw a {type(obj).__name__}: pass a Graph (gg.trace(...)), a gg.compile'd "
            "function that has been called, or a Tensor with recorded history")
    graph = entry.optimized if optimized else entry.graph
    if graph is None:
        raise GraphgradError(f"{title or 'this entry'} has no {'optimized' if optimized else ''}"
                             " graph to draw")
    return graph, f"{title} ({'optimized' if optimized else 'traced'})".strip()


def to_dot(obj, part="both", *, optimized: bool = False, signature=None, scopes: bool = True,
           legend: bool = True, phase_clusters: bool = True, title: str | None = None,
           rankdir: str = "TB", inline_constants: bool = True,
           params: dict | None = None, dead: bool = False, updates: str = "optimizer",
           module_depth: int | None = None,
           max_nodes: int | None = MAX_NODES) -> graphviz.Digraph:
    """The diagram of `obj` as a `graphviz.Digraph` (display it in Jupyter, or `.source`).

    `part` picks the phases: "forward", "backward" (backward pass and optimizer
    update), "update", "both" (everything) or a list of phase names. `optimized`
    draws a compiled function's optimized graph (with fused groups) instead of the
    traced one. `scopes` clusters nodes by module; `inline_constants` writes scalar
    constants into their users' labels (`mul(·, 0.9)`) instead of drawing them;
    `params` names an eager tensor's leaves (e.g. `dict(model.named_parameters())`).

    Big models stay legible by default: values no result depends on are left out
    (`dead=True` draws them); an optimizer's per-parameter updates are one node in one
    cluster per optimizer (`updates="parameter"` draws each); modules nested deeper
    than `module_depth` (attribute path depth: `blocks.3.attn` is 3) are one node each,
    and without a depth, a view of more than `max_nodes` computed nodes collapses the
    deepest modules until it fits (`max_nodes=None`: never).
    """
    graph, default_title = resolve(obj, optimized=optimized, signature=signature, params=params)
    view = ViewOptions(inline_constants, dead, updates, module_depth, max_nodes)
    return graph_to_dot(graph, part, scopes=scopes, legend=legend, phase_clusters=phase_clusters,
                        title=default_title if title is None else title, rankdir=rankdir,
                        inline_constants=inline_constants, view=view)


def render(obj, path, *, format: str | None = None, **options) -> Path:  # noqa: A002
    """Write `obj`'s diagram to `path`; the format comes from its suffix (svg/png/pdf/dot).

    Without Graphviz's `dot` program, writes the DOT source next to `path` and raises
    `GraphvizMissing` saying how to install Graphviz. Returns the written path.
    """
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise GraphgradError(f"cannot render to {path.name!r}: use a file name ending in one "
                             f"of {', '.join('.' + f for f in FORMATS)} (or pass format=)")
    dot = to_dot(obj, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("dot", "gv"):
        path.write_text(dot.source, encoding="utf-8")
        return path
    try:
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        source = _write_source(dot, path)
        raise GraphvizMissing(f"cannot write {path}: {INSTALL_HINT} The diagram's DOT source "
                              f"was written to {source}; render it later with "
                              f"`dot -T{fmt} {source} -o {path}`.") from None
    except graphviz.CalledProcessError as e:
        source = _write_source(dot, path)
        stderr = (e.stderr or b"").decode(errors="replace").strip()
        raise GraphgradError(f"Graphviz failed to render {path} ({stderr or e}); the DOT "
                             f"source is in {source}") from None
    path.write_bytes(data)
    return path


def _write_source(dot: graphviz.Digraph, path: Path) -> Path:
    source = path.with_suffix(".dot")
    source.write_text(dot.source, encoding="utf-8")
    return source


def repr_mimebundle(obj, include=None, exclude=None) -> dict:
    """Jupyter's rich display of `obj`: the SVG diagram, or text saying why there is none."""
    text = repr(obj)
    try:
        graph, _ = resolve(obj)
        if len(graph) > INLINE_LIMIT:
            return {"text/plain": f"{text}\n({len(graph)} nodes: too big to draw inline; use "
                                  "gg.viz.render(obj, 'graph.svg', part=...))"}
        svg = to_dot(obj).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        return {"text/plain": f"{text}\n(no diagram: {INSTALL_HINT})"}
    except GraphgradError as e:
        return {"text/plain": f"{text}\n(no diagram: {e})"}
    bundle = {"image/svg+xml": svg, "text/plain": text}
    if include:
        bundle = {k: v for k, v in bundle.items() if k in include}
    if exclude:
        bundle = {k: v for k, v in bundle.items() if k not in exclude}
    return bundle


def repr_svg(obj) -> str | None:
    """`_repr_svg_` for objects that want one: the diagram as SVG text, or None."""
    return repr_mimebundle(obj).get("image/svg+xml")


def dot_available() -> bool:
    """Whether Graphviz's `dot` program can be found (rendering needs it)."""
    from shutil import which

    return which("dot", path=os.environ.get("PATH")) is not None
