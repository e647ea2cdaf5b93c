"""`Graph`: the static IR, a thin, printable layer over `networkx.MultiDiGraph`.

Nodes are op applications keyed by int ids (creation order). Node attributes:
`op` (registry name, or `input` / `state` / `const` / `fused`), `attrs` (dict, never
mutated), `shape`, `dtype` (np.dtype), `name`, `source` (user's `file:line`),
`phase` (`forward` | `backward` | `update` | `tangent`), `scope` (module path).
An edge u -> v with key k says: u is argument k of v.
"""

from __future__ import annotations

import networkx as nx

from ..errors import GraphError

SOURCE_OPS = ("input", "state", "const")


class Graph:
    """The IR of one traced function (see the module docstring for the node schema)."""

    def __init__(self):
        self.nx = nx.MultiDiGraph()
        self.inputs: list[int] = []
        self.outputs: list[int] = []
        self.state_reads: dict[str, int] = {}
        self.state_writes: dict[str, int] = {}
        self.state_refs: dict = {}  # state name -> StateRef: how the runtime reads/writes it
        self.input_grads: dict[int, int | None] = {}  # input position -> node of its .grad
        self.input_grad_assign: set[int] = set()  # positions whose .grad is replaced
        self.guards: list = []  # (description, callable) re-checked before reusing a plan
        self._next_id = 0

    # ------------------------------------------------------------------ building
    def add_node(self, op: str, args=(), attrs=None, *, shape, dtype, phase="forward",
                 source=None, name=None, scope=None) -> int:
        n = self._next_id
        self._next_id += 1
        self.nx.add_node(n, op=op, attrs=attrs or {}, shape=tuple(shape), dtype=dtype,
                         phase=phase, source=source, name=name, scope=scope)
        for k, a in enumerate(args):
            self.nx.add_edge(a, n, key=k)
        return n

    def add_like(self, like: int, op: str, args=(), attrs=None, *, shape, dtype=None) -> int:
        """A node that rewrites place where `like` was: its phase, source line and scope
        (and its dtype unless given)."""
        d = self.nx.nodes[like]
        return self.add_node(op, args, attrs, shape=shape,
                             dtype=d["dtype"] if dtype is None else dtype, phase=d["phase"],
                             source=d["source"], scope=d["scope"])

    def set_args(self, n: int, args) -> None:
        """Replace node n's arguments (used by rewrites)."""
        self.nx.remove_edges_from(list(self.nx.in_edges(n, keys=True)))
        for k, a in enumerate(args):
            self.nx.add_edge(a, n, key=k)

    def replace_uses(self, old: int, new: int) -> None:
        """Every use of `old` (as an argument, output or state write) now uses `new`."""
        if old == new:
            return
        for _, user, k in list(self.nx.out_edges(old, keys=True)):
            self.nx.remove_edge(old, user, key=k)
            self.nx.add_edge(new, user, key=k)
        self.outputs = [new if o == old else o for o in self.outputs]
        for name, w in self.state_writes.items():
            if w == old:
                self.state_writes[name] = new
        for i, w in self.input_grads.items():
            if w == old:
                self.input_grads[i] = new

    def remove_node(self, n: int) -> None:
        self.nx.remove_node(n)

    # ------------------------------------------------------------------ reading
    def __getitem__(self, n: int) -> dict:
        return self.nx.nodes[n]

    def __contains__(self, n: int) -> bool:
        return n in self.nx

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def args(self, n: int) -> list[int]:
        edges = sorted(self.nx.in_edges(n, keys=True), key=lambda e: e[2])
        return [u for u, _, _ in edges]

    def users(self, n: int) -> list[int]:
        return list(dict.fromkeys(v for _, v in self.nx.out_edges(n)))

    def live_roots(self) -> list[int]:
        """Nodes the function's results depend on: outputs, state writes, input grads."""
        return [n for n in dict.fromkeys([*self.outputs, *self.state_writes.values(),
                                          *self.input_grads.values()]) if n is not None]

    def topo_order(self) -> list[int]:
        """A topological order that keeps creation order where it can (RNG draws stay put)."""
        return list(nx.lexicographical_topological_sort(self.nx))

    def label(self, n: int) -> str:
        name = self.nx.nodes[n].get("name")
        return f"%{name}" if name and self.nx.nodes[n]["op"] in ("input", "state") else f"%{n}"

    def nodes_by_phase(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, phase in self.nx.nodes(data="phase"):
            counts[phase] = counts.get(phase, 0) + 1
        return counts

    def kernel_count(self) -> int:
        """How many kernels one run launches (source nodes cost none)."""
        return sum(1 for _, op in self.nx.nodes(data="op") if op not in SOURCE_OPS)

    def phase(self, *phases: str) -> Graph:
        """The part of the graph in the given phases (e.g. "forward", or "backward"), with
        the inputs, state and constants it reads. Values it reads from other phases
        become its inputs (op `input`, attrs `from_phase`); its outputs are the values it
        hands on (to other phases, to the caller or to state)."""
        keep = {n for n, p in self.nx.nodes(data="phase") if p in phases}
        boundary = {a for n in keep for a in self.nx.pred[n] if a not in keep}
        g = Graph()
        g.nx = self.nx.subgraph(keep | boundary).copy()
        g._next_id = self._next_id
        g.inputs = [n for n in self.inputs if n in keep]
        for a in sorted(boundary):
            if self[a]["op"] not in SOURCE_OPS:
                g.nx.remove_edges_from(list(g.nx.in_edges(a, keys=True)))
                g[a].update(op="input", attrs={"from_phase": self[a]["phase"]})
                g.inputs.append(a)
        keep |= boundary
        roots = set(self.live_roots())
        g.outputs = [n for n in sorted(keep) if self[n]["op"] not in SOURCE_OPS and (
            n in roots or any(u not in keep for u in self.nx.succ[n]))]
        g.state_reads = {k: v for k, v in self.state_reads.items() if v in keep}
        g.state_writes = {k: v for k, v in self.state_writes.items() if v in keep}
        g.state_refs = {k: self.state_refs[k] for k in {*g.state_reads, *g.state_writes}}
        return g

    def copy(self) -> Graph:
        g = Graph()
        g.nx = self.nx.copy()
        g.inputs = list(self.inputs)
        g.outputs = list(self.outputs)
        g.state_reads = dict(self.state_reads)
        g.state_writes = dict(self.state_writes)
        g.state_refs = dict(self.state_refs)
        g.input_grads = dict(self.input_grads)
        g.input_grad_assign = set(self.input_grad_assign)
        g.guards = list(self.guards)
        g._next_id = self._next_id
        return g

    def verify(self) -> Graph:
        """Check the IR's invariants; raise GraphError naming the first broken one."""
        from .verify import verify

        verify(self)
        return self

    def __str__(self) -> str:
        from .printer import format_graph

        return format_graph(self)

    def __repr__(self) -> str:
        return f"<Graph: {len(self)} nodes, {len(self.inputs)} inputs, " \
               f"{len(self.outputs)} outputs, {len(self.state_writes)} state writes>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows the diagram (or the text form when it cannot be drawn)."""
        from graphgrad.viz import repr_mimebundle

        return repr_mimebundle(self, include, exclude)

    def node_error(self, n: int, message: str) -> GraphError:
        data = self.nx.nodes[n]
        return GraphError(f"%{n} ({data['op']}): {message}", op=data["op"], source=data["source"])
