"""What a diagram shows: the nodes of the chosen phases, their context, and their groups.

A view never leaves a drawn node with an argument off the page: a hidden computed
argument becomes a *ghost* (a reference to the value drawn in another view), and a
scalar constant is *inlined* into its user's label (`mul(·, 0.9)`) instead of being a
node of its own, which keeps optimizer updates legible. Values no result depends on
(the gradient of an input nobody asked for) are left out unless `dead=True`. An
optimizer's per-parameter updates and modules nested deeper than a depth become
summaries (see `collapse.py`). A fused kernel whose ops come from several phases
(fusion may merge a forward relu with the backward mask that reads it) is drawn in
the joined phase, `forward+backward`, and shows in the views of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphgrad.errors import GraphgradError
from graphgrad.ir.graph import SOURCE_OPS, Graph

from .collapse import MAX_NODES, Summary, collapse_modules, collapse_updates

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
class ViewOptions:
    """What a view hides or summarizes (see `graphgrad.viz.to_dot`)."""

    inline_constants: bool = True
    dead: bool = False  # draw values no result depends on (unused gradients)
    updates: str = "optimizer"  # or "parameter": every parameter's update drawn
    module_depth: int | None = None  # modules deeper than this drawn as one node each
    max_nodes: int | None = MAX_NODES


@dataclass
class Selection:
    nodes: list[int]  # drawn Graph nodes, topological order
    ghosts: list[int]  # computed values from hidden phases that drawn nodes use
    inlined: set[int] = field(default_factory=set)  # scalar constants shown in labels
    groups: dict[int, tuple] = field(default_factory=dict)  # node -> (update group, label)
    args: dict[int, list[int]] = field(default_factory=dict)  # node -> its arguments, in order
    phase: dict[int, str] = field(default_factory=dict)  # node -> the phase it is drawn in
    summaries: list[Summary] = field(default_factory=list)  # drawn as one node each
    hidden_dead: int = 0  # computed nodes left out because no result depends on them
    options: ViewOptions | None = None

    def __post_init__(self):
        self.drawn = set(self.nodes)
        self.summary_of = {m: i for i, s in enumerate(self.summaries) for m in s.members}


def is_inlinable(data: dict) -> bool:
    return data["op"] == "const" and not data["shape"]


def select(graph: Graph, phases: set[str], inline_constants: bool = True,
           options: ViewOptions | None = None) -> Selection:
    """The nodes a view of `phases` draws (see the module docstring)."""
    options = options or ViewOptions(inline_constants)
    order = graph.topo_order()
    args = {n: graph.args(n) for n in order}
    phase = display_phases(graph)
    live = graph.live_nodes() if not options.dead and graph.live_roots() else None
    computed = [n for n in order if graph[n]["op"] not in SOURCE_OPS
                and in_view(phase[n], phases)]
    # (a named value, e.g. the implicit loss `graphgrad render` adds, is shown even
    # when nothing reads it: backward() starts from its seed, not from its value)
    shown = [n for n in computed if live is None or n in live or graph[n].get("name")]
    summaries, groups = collapse_updates(graph, shown, args, phase, options.updates)
    hidden = {m for s in summaries for m in s.members}
    modules = collapse_modules(graph, [n for n in shown if n not in hidden], phase,
                               options.module_depth, options.max_nodes)
    summaries += modules
    hidden |= {m for s in modules for m in s.members}
    drawn = {n for n in shown if n not in hidden}
    inlined = _sources(graph, order, phase, phases, drawn, hidden, live, options)
    # (a summary's inputs from other views are left out: one ghost per saved value of
    # a collapsed module would outnumber the module)
    ghosts = dict.fromkeys(a for n in order if n in drawn for a in args[n]
                           if a not in drawn and a not in inlined and a not in hidden
                           and graph[a]["op"] not in SOURCE_OPS)
    nodes = [n for n in order if n in drawn]
    return Selection(nodes, list(ghosts), inlined, groups, args, phase, summaries,
                     len(computed) - len(shown), options)


def _sources(graph, order, phase, phases, drawn, hidden, live, options) -> set[int]:
    """Add to `drawn` the inputs, state and constants the view shows; return the scalar
    constants written into their users' labels instead."""
    inlined = set()
    for n in order:
        data = graph[n]
        if data["op"] not in SOURCE_OPS or (live is not None and n not in live
                                            and data["op"] != "input"):
            continue
        users = graph.users(n)
        if any(u in drawn for u in users) or (not users and phase[n] in phases) \
                or (data["op"] == "input" and "forward" in phases):
            if options.inline_constants and is_inlinable(data) and users:
                inlined.add(n)
            else:
                drawn.add(n)
        elif users and all(u in hidden for u in users) and is_inlinable(data):
            inlined.add(n)
    return inlined


def in_view(phase: str, phases: set[str]) -> bool:
    """Whether a node drawn in `phase` (maybe joined: `forward+backward`) shows in a view
    of `phases`."""
    return phase in phases or "+" in phase and any(p in phases for p in phase.split("+"))


def display_phases(graph: Graph) -> dict[int, str]:
    """Each node's phase. A fused kernel whose ops come from several phases is drawn
    in all of them joined (`forward+backward+update`): it is not a forward kernel.
    (Without the record of its ops' phases: the earliest among it and its `get`s.)"""
    rank = {p: i for i, p in enumerate(PHASE_ORDER)}
    phase = dict(graph.nx.nodes(data="phase"))
    for n, data in graph.nx.nodes(data=True):
        if data["op"] != "fused":
            continue
        spans = data.get("phases") or [phase[n]] + [
            phase[u] for u in graph.users(n) if graph[u]["op"] == "get"]
        spans = sorted(set(spans), key=lambda p: rank.get(p, len(rank)))
        phase[n] = "+".join(spans) if data.get("phases") else spans[0]
    return phase
