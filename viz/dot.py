"""Graph -> `graphviz.Digraph`: which nodes a view shows, where they sit, how they look.

One DOT node per drawn Graph node (DOT name `n<id>`, SVG class `gg-node kind-<kind>
phase-<phase>`) and one DOT edge per argument edge between drawn nodes (class
`gg-edge`), so a diagram can be checked against its Graph by counting. Diagram-only
nodes have other names: `w<i>` (state writes), `o<i>` (outputs), `legend`.

Clusters nest as phase > module scope > fused group; every node has exactly one path,
so the nesting is always proper. Everything is built with loops (no recursion), so
graphs of any size convert.
"""

from __future__ import annotations

import textwrap

import graphviz

from graphgrad.errors import GraphgradError
from graphgrad.ir.graph import SOURCE_OPS, Graph
from graphgrad.ir.printer import format_attrs, format_node, format_type

from . import style
from .labels import attr_list, const_text, html_label, name_list, short_attrs
from .select import ViewOptions, kind_of, phases_for, select
from .summaries import SummaryDrawer

BACKWARD_PHASES = ("backward", "update")
WRITE_LIMIT = 24  # state writes drawn one by one (unless max_nodes=None: all)

class DotBuilder:
    """Builds one diagram; `build()` returns the Digraph."""

    def __init__(self, graph: Graph, phases: set[str], *, scopes: bool = True,
                 legend: bool = True, phase_clusters: bool = True, title: str | None = None,
                 rankdir: str = "TB", inline_constants: bool = True,
                 view: ViewOptions | None = None):
        self.g = graph
        view = view or ViewOptions(inline_constants)
        view.inline_constants = inline_constants
        self.sel = select(graph, phases, inline_constants, view)
        self.nodes, self.ghosts = self.sel.nodes, self.sel.ghosts
        if not self.nodes and not self.sel.summaries:
            raise GraphgradError(
                f"nothing to draw: the graph has no nodes in phase(s) {sorted(phases)} "
                f"(its phases: {graph.nodes_by_phase()})")
        self.drawn = self.sel.drawn
        self.scopes, self.legend, self.title = scopes, legend, title
        computed_phases = {self.sel.phase[n] for n in self.nodes
                           if graph[n]["op"] not in SOURCE_OPS}
        computed_phases |= {s.phase for s in self.sel.summaries}
        self.phase_clusters = phase_clusters and len(computed_phases) > 1
        self.dot = graphviz.Digraph(
            "graphgrad", graph_attr=style.GRAPH_ATTR | {"rankdir": rankdir},
            node_attr=style.NODE_ATTR, edge_attr=style.EDGE_ATTR)
        self.paths: dict[int, tuple] = {}
        self.members: dict[tuple, list] = {(): []}  # cluster path -> [(name, attrs)]
        self.kinds: set[str] = set()
        self.phases_seen: set[str] = set()
        self.saved_edges = False
        self.edges: list[tuple[str, str, dict]] = []
        self.tails: dict[tuple, str] = {}  # (source node, phase cluster) -> its drawing there
        self.summaries = SummaryDrawer(self)

    # ------------------------------------------------------------------ placement
    def base_path(self, n: int) -> tuple:
        data = self.g[n]
        path = (("phase", self.sel.phase[n]),) if self.phase_clusters else ()
        scope = str(data.get("scope") or "").strip(".")
        if self.scopes and scope:
            parts = scope.split(".")
            path += tuple(("scope", ".".join(parts[:i + 1])) for i in range(len(parts)))
        if n in self.sel.groups:
            path += (("group", self.sel.groups[n]),)
        return path

    def path_of(self, n: int) -> tuple:
        kind = kind_of(self.g[n])
        if kind == "get":
            owner = self.sel.args[n][0] if self.sel.args[n] else None
            if owner in self.paths and kind_of(self.g[owner]) == "fused":
                return self.paths[owner]
        if kind == "fused":
            return self.base_path(n) + (("fused", n),)
        if kind in ("op", "get"):
            return self.base_path(n)
        return self.source_path(n, kind)

    def add_refs(self, n: int, kind: str, attrs: dict) -> None:
        """Draw a source again in each other phase that reads it (a parameter read by
        forward and update): no edge then crosses the page, and dot stays fast."""
        home = self.paths[n][:1]
        for top, users in self.users_by_phase(n).items():
            if top == home or not top:
                continue
            name = f"n{n}_{top[0][1]}"
            self.tails[(n, top)] = name
            self.kinds.add("ref")
            self.place(name, self.source_path(n, kind, users), attrs | {
                "id": name, "class": attrs["class"].replace("gg-node", "gg-ref"),
                "style": attrs["style"].replace(",bold", "") + ",dashed",
                "tooltip": f"drawn again near its users in {top[0][1]}\n{attrs['tooltip']}"})

    def users_by_phase(self, n: int) -> dict[tuple, list[int]]:
        out: dict[tuple, list[int]] = {}
        for u in self.g.users(n):
            if u in self.paths:
                out.setdefault(self.paths[u][:1] if self.phase_clusters else (), []).append(u)
        return out

    def source_path(self, n: int, kind: str, users: list[int] | None = None) -> tuple:
        """Constants sit beside their first user; parameters inside their module's scope."""
        if users is None:  # the home drawing: with the users in the first user's phase
            by_phase = self.users_by_phase(n)
            users = next(iter(by_phase.values()), [])
        if not users:
            return ()
        path = tuple(e for e in self.paths[users[0]] if e[0] != "fused")
        if kind == "const":
            return path
        name = self.g[n].get("name") or ""
        owner = name.rsplit(".", 1)[0] if "." in name else None
        if kind == "state" and ("scope", owner) in path:
            return path[:path.index(("scope", owner)) + 1]
        if len({self.sel.groups.get(u) for u in users} - {None}) == 1 and \
                all(u in self.sel.groups for u in users):  # read by one update group only
            return next(path[:i + 1] for i, e in enumerate(path) if e[0] == "group")
        return path[:1] if self.phase_clusters else ()

    def place(self, name: str, path: tuple, attrs: dict) -> None:
        for i in range(len(path)):
            self.members.setdefault(path[:i + 1], [])
        self.members[path].append((name, attrs))

    # ------------------------------------------------------------------ nodes
    def add_graph_nodes(self) -> None:
        sources = [n for n in self.nodes if self.g[n]["op"] in SOURCE_OPS]
        for n in (n for n in self.nodes if self.g[n]["op"] not in SOURCE_OPS):
            self.paths[n] = self.path_of(n)
        for n in sources:
            self.paths[n] = self.path_of(n)
        for n in self.nodes:
            data, phase = self.g[n], self.sel.phase[n]
            kind = kind_of(data)
            self.kinds.add(kind)
            if kind not in ("input", "state", "scalar", "const"):
                self.phases_seen.add(phase)
            attrs = style.node_style(kind, phase) | {
                "label": self.label(n, data, kind), "tooltip": self.tooltip(n, data),
                "class": f"gg-node kind-{kind} phase-{phase}", "id": f"n{n}"}
            self.place(f"n{n}", self.paths[n], attrs)
            if n in sources and self.phase_clusters:
                self.add_refs(n, kind, attrs)
        for n in self.ghosts:
            data, phase = self.g[n], self.sel.phase[n]
            self.kinds.add("ghost")
            label = html_label(f"%{n} {data['op']}", format_type(data), f"({phase})")
            self.place(f"n{n}", (), style.node_style("ghost", phase) | {
                "label": label, "tooltip": self.tooltip(n, data), "id": f"n{n}",
                "class": f"gg-ghost phase-{phase}"})

    def label(self, n: int, data: dict, kind: str) -> str:
        typ = format_type(data)
        if kind in ("input", "state", "scalar"):
            unnamed = f"{'input' if kind == 'input' else 'leaf'} %{n}"
            return html_label(data.get("name") or unnamed, typ)
        if kind == "const":
            value = const_text(data["attrs"]["value"])
            value = value if len(value) <= 24 else value[:21] + "..."
            return html_label(value, typ, bold=False)
        if kind == "fused":
            count = len(data["attrs"]["program"].steps)
            spans = self.sel.phase[n]
            return html_label(f"fused \u00d7{count}", typ, spans if "+" in spans else None)
        if kind == "get":
            return html_label(f"get {data['attrs'].get('index', 0)}", typ, bold=False)
        return html_label(self.call_text(n, data["op"]), typ,
                          data.get("name") or short_attrs(data["attrs"]))

    def call_text(self, n: int, op: str) -> str:
        """`op`, or `op(·, 0.9)` when scalar constants are inlined (· is a drawn edge)."""
        args = self.sel.args[n]
        if not any(a in self.sel.inlined for a in args):
            return op
        self.kinds.add("inlined")
        return op + "(" + ", ".join(const_text(self.g[a]["attrs"]["value"])
                                    if a in self.sel.inlined else "\u00b7" for a in args) + ")"

    def tooltip(self, n: int, data: dict) -> str:
        line = self.node_line(n, data)
        phase = self.sel.phase.get(n, data["phase"])
        if phase != data["phase"]:
            phase += f" (it also computes {data['phase']} values)"
        lines = [data.get("source") or "(no source line)", line, f"phase: {phase}"]
        if data.get("scope"):
            lines.append(f"module: {data['scope']}")
        if data["op"] == "fused":
            program = data["attrs"]["program"]
            lines += [str(program), "replaces ops from: " + ", ".join(program.sources)]
        return "\n".join(lines)

    def node_line(self, n: int, data: dict) -> str:
        """`%7 : f32[32,128] = relu(%6)`, as `str(graph)` prints it."""
        if data["op"] in ("input", "state", "const", "fused"):
            return format_node(self.g, n).split("  # ")[0].rstrip()
        args = ", ".join(self.g.label(a) for a in self.sel.args[n])
        attrs = format_attrs(data["op"], data["attrs"])
        call = ", ".join(x for x in (args, attrs) if x)
        return f"{self.g.label(n)} : {format_type(data)} = {data['op']}({call})"

    def add_extras(self) -> None:
        """State writes and outputs: where values leave the step."""
        writes = [(i, name, w) for i, (name, w) in enumerate(self.g.state_writes.items())
                  if w is not None and w in self.drawn]  # (a summary's: in its tooltip)
        limit = len(writes) if self.sel.options.max_nodes is None else WRITE_LIMIT
        for i, name, w in writes[:limit]:
            self.kinds.add("write")
            path = tuple(e for e in self.paths[w] if e[0] != "fused")
            self.place(f"w{i}", path, style.node_style("write", "update") | {
                "label": html_label(name, format_type(self.g[w]), "\u2190 new value"),
                "tooltip": f"state {name} <- %{w}\nwritten back after each call",
                "class": "gg-write", "id": f"w{i}"})
            self.edge(f"n{w}", f"w{i}", **style.WRITE_EDGE,
                      **{"class": "gg-write-edge", "tooltip": f"{name} <- %{w}"})
        if writes[limit:]:  # the rest: one node, so a big step's writes do not fill a row
            rest = writes[limit:]
            self.place("w_rest", (), style.node_style("write", "update") | {
                "label": html_label(f"{len(rest)} more state values", None,
                                    "\u2190 new values"),
                "tooltip": "written back after each call: " + name_list([n for _, n, _ in rest]),
                "class": "gg-write", "id": "w_rest"})
            for w in dict.fromkeys(w for _, _, w in rest):
                self.edge(f"n{w}", "w_rest", **style.WRITE_EDGE, **{"class": "gg-write-edge"})
        for i, o in enumerate(self.g.outputs):
            if o not in self.drawn and o not in self.sel.summary_of:
                continue
            self.kinds.add("output")
            self.place(f"o{i}", (), style.node_style("output", "forward") | {
                "label": html_label(f"output {i}", format_type(self.g[o])),
                "tooltip": f"returned value {i} (%{o})", "class": "gg-output", "id": f"o{i}"})
            self.edge(self.summaries.name_of(o) or f"n{o}", f"o{i}", **style.OUTPUT_EDGE,
                          **{"class": "gg-output-edge", "tooltip": f"output {i}"})

    # ------------------------------------------------------------------ edges
    def edge(self, u: str, v: str, **attrs) -> None:
        self.edges.append((u, v, attrs))

    def add_edges(self) -> None:
        for v in self.nodes:
            v_phase = self.sel.phase[v]
            for k, u in enumerate(self.sel.args[v]):
                if u in self.sel.inlined:
                    continue
                if u in self.sel.summary_of:
                    self.summaries.edge_out(u, v)
                    continue
                attrs = {"class": "gg-edge", "tooltip": f"%{u} \u2192 %{v} (argument {k})"}
                if v_phase in BACKWARD_PHASES and self.g[u]["op"] not in SOURCE_OPS \
                        and self.sel.phase[u] not in BACKWARD_PHASES \
                        and "+" not in self.sel.phase[u]:  # (a kernel to its own `get`s)
                    attrs |= style.SAVED_EDGE | {"class": "gg-edge gg-saved"}
                    self.saved_edges = True
                tail = self.tails.get((u, self.paths[v][:1]), f"n{u}")
                self.edge(tail, f"n{v}", **attrs)

    # ------------------------------------------------------------------ clusters
    def cluster_attrs(self, path: tuple, index: int) -> dict:
        kind, key = path[-1]
        attrs = {"id": f"c{index}"}
        if kind == "phase":
            fill, border, bg, title = style.phase_colors(key)
            return attrs | {"label": title, "style": "filled,rounded", "fillcolor": bg,
                            "color": border, "fontcolor": border, "fontsize": "12",
                            "class": f"gg-phase phase-{key}", "tooltip": f"{title} phase"}
        if kind == "scope":
            return attrs | style.SCOPE_CLUSTER | {"label": f"module {key}",
                                                  "class": "gg-scope", "tooltip": key}
        if kind == "group":
            written = [name for name, w in self.g.state_writes.items()
                       if w in self.sel.groups and self.sel.groups[w][0] == key[0]]
            if key[0][0] == "optimizer":
                written = self.sel.summaries[key[0][1]].writes
            return attrs | style.GROUP_CLUSTER | {
                "label": key[1], "class": "gg-update-group",
                "tooltip": "writes " + (name_list(written) or "nothing")}
        names = self.g[key]["attrs"]["program"].op_names
        text = "fused: " + ", ".join(names)
        label = "\\l".join(textwrap.wrap(text, 40)) + "\\l"
        return attrs | style.FUSED_CLUSTER | {
            "label": label, "class": "gg-fused", "tooltip": f"%{key}: {len(names)} ops, "
                                                            "one kernel"}

    def assemble(self) -> None:
        """Attach cluster subgraphs to their parents, deepest first (no recursion)."""
        paths = sorted(self.members, key=len, reverse=True)
        index = {p: i for i, p in enumerate(sorted(self.members, key=len))}
        graphs = {(): self.dot}
        for p in paths:
            if p:
                graphs[p] = graphviz.Digraph(f"cluster_{index[p]}",
                                             graph_attr=self.cluster_attrs(p, index[p]))
        for p in paths:
            for name, attrs in self.members[p]:
                graphs[p].body.append(f"\t{name} [{attr_list(attrs)}]\n")
        for p in paths:
            if p:
                graphs[p[:-1]].subgraph(graphs[p])

    def order_phases(self) -> None:
        """Lay phases out left to right in execution order. dot ignores flat edges between
        clusters, so an invisible row of root-level nodes (whose order it keeps) holds one
        top node of each phase cluster below it."""
        if not self.phase_clusters:
            return
        heads = {v for _, v, _ in self.edges}
        anchors = {}
        for path, members in self.members.items():
            if path and path[0][0] == "phase" and path[0][1] not in anchors:
                top = [name for name, _ in members if name not in heads]
                if top:
                    anchors[path[0][1]] = top[0]
        phases = [p for p in (*style.PHASES, *sorted(anchors)) if p in anchors]
        phases = list(dict.fromkeys(phases))
        if len(phases) < 2:
            return
        body = self.dot.body
        spine = {p: "spine_" + p.replace("+", "_") for p in phases}  # (ids: no `+`)
        for p in phases:
            body.append(f'\t{spine[p]} [shape=point style=invis width=0 height=0 label="" '
                        f'class="gg-order"]\n')
            body.append(f'\t{spine[p]} -> {anchors[p]} [style=invis weight=100 '
                        f'class="gg-order"]\n')
        body.append(f"\t{{rank=same; {'; '.join(spine[p] for p in phases)}}}\n")
        for a, b in zip(phases, phases[1:]):
            body.append(f'\t{spine[a]} -> {spine[b]} [style=invis class="gg-order"]\n')

    def build(self) -> graphviz.Digraph:
        self.add_graph_nodes()
        self.summaries.add_nodes()
        self.add_edges()
        self.summaries.add_edges()
        self.add_extras()
        if self.legend:
            rows = style.legend_rows(self.kinds, self.phases_seen, self.saved_edges)
            self.place("legend", (), {"shape": "plaintext", "label": style.legend_label(rows),
                                      "class": "gg-legend", "id": "legend", "tooltip": "legend"})
        self.assemble()
        for u, v, attrs in self.edges:  # after the nodes, so node order follows the graph's
            self.dot.body.append(f"\t{u} -> {v} [{attr_list(attrs)}]\n")
        self.order_phases()
        if self.title:
            self.dot.attr(label=self.title)
        return self.dot


def graph_to_dot(graph: Graph, part="both", **options) -> graphviz.Digraph:
    """The diagram of `graph`'s `part` (see `DotBuilder` for the options)."""
    return DotBuilder(graph, phases_for(graph, part), **options).build()
