"""What a diagram shows: the nodes of the chosen phases, their context, and their groups.

A view never leaves a drawn node with an argument off the page: a hidden computed
argument becomes a *ghost* (a reference to the value drawn in another view), and a
scalar constant is *inlined* into its user's label (`mul(·, 0.9)`) instead of being a
node of its own, which keeps optimizer updates legible. Update nodes are grouped by
the state they write (one group per parameter for SGD/Adam), found as the connected
pieces of the update phase. A fused node is drawn in the earliest phase of the values
it produces (fusion may merge a forward relu with the backward mask that reads it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from graphgrad.errors import GraphgradError
from graphgrad.ir.graph import SOURCE_OPS, Graph

PHASE_ORDER = ("forward", "tangent", "backward", "update")
PARTS = {"forward": ("forward", "tangent"), "backward": ("backward", "update"),
         "update": ("update",), "both": None}


def kind_of(data: dict) -> str:
    """input | state | scalar | const | fused | get | op."""
    op = data["op"]
    if op == "state":
        return "scalar" if data["attrs"].get("scalar") else "state"
    return op if op in ("input", "const", "fused", "get") else "op"


def phases_for(graph: Graph, part) -> set[str]:
    """The phases a `part` ("forward", "backward", "update", "both" or a list) shows."""
    if not isinstance(part, str):
        return set(part)
    if part not in PARTS:
        raise GraphgradError(f"part={part!r} is not one of {sorted(PARTS)} (or a list of "
                             "phase names)")
    phases = PARTS[part]
    return set(graph.nodes_by_phase()) if phases is None else set(phases)


@dataclass
class Selection:
    nodes: list[int]  # drawn Graph nodes, topological order
    ghosts: list[int]  # computed values from hidden phases that drawn nodes use
    inlined: set[int] = field(default_factory=set)  # scalar constants shown in labels
    groups: dict[int, tuple[int, str]] = field(default_factory=dict)  # node -> update group
    args: dict[int, list[int]] = field(default_factory=dict)  # node -> its arguments, in order
    phase: dict[int, str] = field(default_factory=dict)  # node -> the phase it is drawn in

    def __post_init__(self):
        self.drawn = set(self.nodes)


def is_inlinable(data: dict) -> bool:
    return data["op"] == "const" and not data["shape"]


def select(graph: Graph, phases: set[str], inline_constants: bool = True) -> Selection:
    """The nodes a view of `phases` draws (see the module docstring)."""
    order = graph.topo_order()
    args = {n: graph.args(n) for n in order}
    phase = display_phases(graph)
    drawn = {n for n in order if graph[n]["op"] not in SOURCE_OPS and phase[n] in phases}
    inlined = set()
    for n in order:
        data = graph[n]
        if data["op"] not in SOURCE_OPS:
            continue
        users = graph.users(n)
        if any(u in drawn for u in users) or (not users and phase[n] in phases) \
                or (data["op"] == "input" and "forward" in phases):
            if inline_constants and is_inlinable(data) and users:
                inlined.add(n)
            else:
                drawn.add(n)
    ghosts = dict.fromkeys(a for n in order if n in drawn for a in args[n]
                           if a not in drawn and a not in inlined)
    nodes = [n for n in order if n in drawn]
    groups = update_groups(graph, nodes, args, phase)
    return Selection(nodes, list(ghosts), inlined, groups, args, phase)


def display_phases(graph: Graph) -> dict[int, str]:
    """Each node's phase; a fused node's is the earliest among it and its `get` users."""
    rank = {p: i for i, p in enumerate(PHASE_ORDER)}
    phase = dict(graph.nx.nodes(data="phase"))
    for n, op in graph.nx.nodes(data="op"):
        if op == "fused":
            candidates = [phase[n]] + [phase[u] for u in graph.users(n)
                                       if graph[u]["op"] == "get"]
            phase[n] = min(candidates, key=lambda p: rank.get(p, len(rank)))
    return phase


def update_groups(graph: Graph, nodes: list[int], args: dict,
                  phase: dict) -> dict[int, tuple[int, str]]:
    """node -> (group id, label): the connected pieces of the drawn update phase.

    Returns {} when there is at most one piece (a group box would add nothing).
    """
    update = [n for n in nodes if phase[n] == "update"
              and graph[n]["op"] not in SOURCE_OPS]
    members = set(update)
    pieces = nx.Graph()
    pieces.add_nodes_from(update)
    pieces.add_edges_from((u, v) for v in update for u in args[v] if u in members)
    roots = {n: min(piece) for piece in nx.connected_components(pieces) for n in piece}
    if len(set(roots.values())) < 2:
        return {}
    written: dict[int, list[str]] = {}
    for name, w in graph.state_writes.items():
        if w in roots:
            written.setdefault(roots[w], []).append(name)
    labels = {r: "update " + min(written[r], key=len) if r in written else "update"
              for r in set(roots.values())}
    return {n: (r, labels[r]) for n, r in roots.items()}
