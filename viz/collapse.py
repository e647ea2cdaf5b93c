"""Summaries: many graph nodes drawn as one, so real models stay legible.

Two kinds, both computed from the Graph alone:

- *optimizer updates*: an optimizer runs the same few ops once per parameter. The
  update phase splits into connected pieces (one per parameter); pieces belong to the
  optimizer whose hyperparameters they read (state named `Adam.param_groups.0.lr`,
  say). An optimizer with several pieces is drawn as one node ("Adam step, 6
  parameters") in one cluster; `updates="parameter"` draws every piece instead, as
  are updates written by hand (they read no optimizer's hyperparameters).
- *modules*: the nodes of a module nested deeper than `module_depth` (by attribute
  path: `blocks.3.attn` has depth 3) are drawn as one node per module at that depth.
  When no depth is given and a view would draw more than `max_nodes` nodes, the
  deepest depth that fits is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from graphgrad.errors import GraphgradError
from graphgrad.ir.graph import SOURCE_OPS, Graph

UPDATE_MODES = ("optimizer", "parameter")
MAX_NODES = 80  # computed nodes a default view draws before it collapses modules


@dataclass
class Summary:
    """One drawn node standing for `members` (graph nodes not drawn themselves)."""

    kind: str  # "update" | "module"
    key: str  # the optimizer's or the module's name
    phase: str
    members: list[int]
    count: int = 1  # parameters an update summary covers
    writes: list[str] = field(default_factory=list)


def update_pieces(graph: Graph, nodes: list[int], args: dict, phase: dict) -> list[list[int]]:
    """The connected pieces of the drawn update phase's computed nodes, in order."""
    update = [n for n in nodes if phase[n] == "update" and graph[n]["op"] not in SOURCE_OPS]
    members = set(update)
    pieces = nx.Graph()
    pieces.add_nodes_from(update)
    pieces.add_edges_from((u, v) for v in update for u in args[v] if u in members)
    return sorted((sorted(p) for p in nx.connected_components(pieces)), key=lambda p: p[0])


def optimizer_of(graph: Graph, piece: list[int], args: dict) -> str:
    """The name of the optimizer whose hyperparameters `piece` reads ("update" if none)."""
    for n in piece:
        for a in args[n]:
            name = graph[a].get("name") or ""
            if graph[a]["op"] == "state" and ".param_groups." in name:
                return name.split(".param_groups.")[0]
    return "update"


def collapse_updates(graph: Graph, nodes: list[int], args: dict, phase: dict,
                     mode: str) -> tuple[list[Summary], dict[int, tuple[int, str]]]:
    """(summaries, node -> update group) for the drawn update phase (module docstring)."""
    if mode not in UPDATE_MODES:
        raise GraphgradError(f"updates={mode!r} is not one of {UPDATE_MODES}")
    pieces = update_pieces(graph, nodes, args, phase)
    by_optimizer: dict[str, list[list[int]]] = {}
    for piece in pieces:
        by_optimizer.setdefault(optimizer_of(graph, piece, args), []).append(piece)
    written = {}
    for name, w in graph.state_writes.items():
        written.setdefault(w, []).append(name)
    summaries, groups = [], {}
    for i, (key, owned) in enumerate(by_optimizer.items()):
        if mode == "parameter" or len(owned) == 1 or key == "update":  # (no optimizer)
            for j, piece in enumerate(owned):
                names = [w for n in piece for w in written.get(n, ())]
                label = "update " + min(names, key=len) if names else f"update ({key})"
                if mode == "optimizer":
                    label = f"{key} step: {label}"
                groups.update((n, ((i, j), label)) for n in piece)
            continue
        members = [n for piece in owned for n in piece]
        summaries.append(Summary("update", key, "update", members, len(owned),
                                 [w for n in members for w in written.get(n, ())]))
    if mode == "parameter" and len(pieces) < 2:
        groups = {}  # one piece: a group box would add nothing
    return summaries, groups


def scope_parts(data: dict) -> list[str]:
    scope = str(data.get("scope") or "").strip(".")
    return scope.split(".") if scope else []


def collapse_modules(graph: Graph, nodes: list[int], phase: dict, depth: int | None,
                     max_nodes: int | None) -> list[Summary]:
    """One summary per (phase, module at `depth + 1`) for nodes nested deeper than
    `depth`; with `depth=None`, the deepest depth that keeps the view within
    `max_nodes` (none at all if it already fits, or if `max_nodes` is None)."""
    computed = [n for n in nodes if graph[n]["op"] not in SOURCE_OPS]
    parts = {n: scope_parts(graph[n]) for n in computed}
    if depth is None:
        if max_nodes is None or len(computed) <= max_nodes:
            return []
        deepest = max((len(p) for p in parts.values()), default=0)
        depth = 0
        for d in range(deepest - 1, -1, -1):
            kept = sum(1 for p in parts.values() if len(p) <= d)
            keys = {(phase[n], tuple(p[:d + 1])) for n, p in parts.items() if len(p) > d}
            if kept + len(keys) <= max_nodes:
                depth = d
                break
    if depth < 0:
        raise GraphgradError(f"module_depth={depth} must be 0 or more")
    summaries: dict[tuple, Summary] = {}
    for n in computed:
        p = parts[n]
        if len(p) > depth:
            key = (phase[n], ".".join(p[:depth + 1]))
            if key not in summaries:
                summaries[key] = Summary("module", key[1], key[0], [])
            summaries[key].members.append(n)
    return list(summaries.values())
