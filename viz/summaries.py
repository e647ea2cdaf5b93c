"""Drawing the summaries of `collapse.py`: one DOT node each (`s<i>`, class
`gg-summary kind-update|kind-module`) and the edges that cross their border."""

from __future__ import annotations

from graphgrad.ir.graph import SOURCE_OPS

from . import style
from .labels import html_label, name_list


class SummaryDrawer:
    """Adds the selection's summaries to a `DotBuilder` (`b`)."""

    def __init__(self, builder):
        self.b = builder
        self.seen: set[tuple[str, str]] = set()

    def name_of(self, n: int) -> str | None:
        i = self.b.sel.summary_of.get(n)
        return None if i is None else f"s{i}"

    def path(self, i: int, summary) -> tuple:
        b = self.b
        path = (("phase", summary.phase),) if b.phase_clusters else ()
        if summary.kind == "update":
            return path + (("group", (("optimizer", i), f"{summary.key} update")),)
        parts = summary.key.split(".")
        if b.scopes:
            path += tuple(("scope", ".".join(parts[:k + 1])) for k in range(len(parts) - 1))
        return path

    def add_nodes(self) -> None:
        b = self.b
        for i, s in enumerate(b.sel.summaries):
            b.kinds.add("summary")
            b.phases_seen.add(s.phase)
            if s.kind == "update":
                ops = len(s.members) // max(s.count, 1)
                label = html_label(f"{s.key} step", None, f"{s.count} parameters \u00d7 "
                                                          f"{ops} ops")
                tip = (f"{s.key}: the same update for each of {s.count} parameters, drawn "
                       "once (updates='parameter' draws each)\nwrites: " + name_list(s.writes))
            else:
                label = html_label(f"module {s.key}", None, f"{len(s.members)} ops, collapsed")
                tip = (f"module {s.key}: {len(s.members)} {s.phase} ops drawn as one "
                       "(module_depth= draws deeper modules)")
            b.place(f"s{i}", self.path(i, s), style.node_style("summary", s.phase) | {
                "label": label, "tooltip": tip, "id": f"s{i}",
                "class": f"gg-summary kind-{s.kind} phase-{s.phase}"})

    def edge_out(self, u: int, v: int) -> None:
        """A hidden member u of a summary is an argument of the drawn node v."""
        self._edge(self.name_of(u), f"n{v}")

    def add_edges(self) -> None:
        """Edges into each summary from what its members read outside it."""
        b = self.b
        for i, s in enumerate(b.sel.summaries):
            inside = set(s.members)
            for m in s.members:
                for a in b.sel.args[m]:
                    if a in inside or a in b.sel.inlined:
                        continue
                    if b.g[a]["op"] in SOURCE_OPS and s.kind == "update":
                        continue  # (a parameter and its optimizer state: in the tooltip)
                    tail = self.name_of(a)
                    if tail is None and a in b.drawn:
                        tail = b.tails.get((a, self.path(i, s)[:1]), f"n{a}")
                    if tail is not None:  # (else a value from another view: left out)
                        self._edge(tail, f"s{i}")

    def _edge(self, u: str, v: str) -> None:
        if (u, v) not in self.seen:
            self.seen.add((u, v))
            self.b.edge(u, v, **{"class": "gg-edge gg-summary-edge", "tooltip": f"{u} \u2192 {v}"})
