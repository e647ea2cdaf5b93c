"""`Graph`: the static IR, a thin, printable layer over `networkx.MultiDiGraph`.

Nodes are op applications keyed by int ids (creation order). Node attributes:
`op` (registry name, or `input` / `state` / `const` / `fused`), `attrs` (dict, never
mutated), `shape`, `dtype` (np.dtype), `name`, `source` (user's `file:line`),
`phase` (`forward` | `backward` | `update` | `tangent`), `scope` (module path).
An edge u -> v with key k says: u is argument k of v.
"""

from __future__ import annotations

import heapq
import operator

import networkx as nx

from ..errors import GraphError
from .printer import format_graph
from .schema import SOURCE_OPS
from .tracked import (
    NodeIndexedDict,
    TrackedMultiDiGraph,
    copy_structure,
    drop_node,
    link,
    new_node,
    unlink,
)
from .verify import verify as _verify

_OP = operator.itemgetter("op")


class Graph:
    """The IR of one traced function (see the module docstring for the node schema).

    Reading is constant time per node: each node's argument list and a topological
    order are cached, and state writes are indexed by node. The mutators below keep
    those current; a change made straight through `self.nx` is noticed (its
    `version` moves) and drops the caches, so they are never stale.
    """

    def __init__(self):
        self.nx = TrackedMultiDiGraph()
        self.inputs: list[int] = []
        self.outputs: list[int] = []
        self.state_reads: dict[str, int] = {}
        self.state_writes = {}  # state name -> node id (indexed by node: NodeIndexedDict)
        self.state_refs: dict = {}  # state name -> StateRef: how the runtime reads/writes it
        self.input_grads: dict[int, int | None] = {}  # input position -> node of its .grad
        self.input_grad_assign: set[int] = set()  # positions whose .grad is replaced
        self.guards: list = []  # (description, callable) re-checked before reusing a plan
        self._next_id = 0

    # ------------------------------------------------------------------ caches
    @property
    def nx(self) -> TrackedMultiDiGraph:
        return self._nx

    @nx.setter
    def nx(self, value: nx.MultiDiGraph) -> None:
        self._nx = value if isinstance(value, TrackedMultiDiGraph) else copy_structure(value)
        self._drop_caches()

    @property
    def state_writes(self) -> NodeIndexedDict:
        return self._state_writes

    @state_writes.setter
    def state_writes(self, value: dict) -> None:
        self._state_writes = value if isinstance(value, NodeIndexedDict) \
            else NodeIndexedDict(value)

    def _drop_caches(self) -> None:
        self._args: dict[int, list[int]] = {}
        self._order: list[int] | None = None
        self._canonical = False  # whether `_order` is the lexicographic order
        self._pos: dict[int, int] = {}
        self._removed = 0  # nodes removed since `_order` was made (filtered out lazily)
        self._seen = self._nx.version

    def _sync(self) -> None:
        """Drop the caches if the networkx graph changed behind Graph's back."""
        if self._nx.version != self._seen:
            self._drop_caches()

    def _add_edge(self, a: int, n: int, k: int) -> None:
        if not link(self._nx, a, n, k):
            raise GraphError(f"argument {k} of %{n} is %{a}, which is not a node of the graph")
        if self._order is not None and self._pos.get(a, -1) >= self._pos.get(n, -1):
            self._order = None  # the new edge runs against the cached order

    # ------------------------------------------------------------------ building
    def add_node(self, op: str, args=(), attrs=None, *, shape, dtype, phase="forward",
                 source=None, name=None, scope=None) -> int:
        g = self._nx
        if g.version != self._seen:
            self._drop_caches()
        n = self._next_id
        self._next_id = n + 1
        new_node(g, n, {"op": op, "attrs": attrs or {}, "shape": tuple(shape),
                        "dtype": dtype, "phase": phase, "source": source, "name": name,
                        "scope": scope})
        order = self._order
        if order is not None:  # a new node uses only older ones: it can go last
            self._pos[n] = len(order)
            order.append(n)
        args = list(args)
        succ, preds = g._succ, g._pred[n]
        for k, a in enumerate(args):  # (`_add_edge` inlined: the trace's hottest loop)
            nbrs = succ.get(a)
            if nbrs is None or a == n:
                self._add_edge(a, n, k)  # (the error, or a self-loop against the order)
                continue
            keys = nbrs.get(n)
            if keys is None:
                keys = nbrs[n] = preds[a] = {}
            keys[k] = {}
        self._args[n] = args
        return n

    def add_like(self, like: int, op: str, args=(), attrs=None, *, shape, dtype=None) -> int:
        """A node that rewrites place where `like` was: its phase, source line and scope
        (and its dtype unless given)."""
        d = self[like]
        return self.add_node(op, args, attrs, shape=shape,
                             dtype=d["dtype"] if dtype is None else dtype, phase=d["phase"],
                             source=d["source"], scope=d["scope"])

    def set_args(self, n: int, args) -> None:
        """Replace node n's arguments (used by rewrites)."""
        self._sync()
        for u, keys in list(self._nx._pred[n].items()):
            self._canonical = False  # (fewer constraints: an earlier order may now do)
            for k in list(keys):
                unlink(self._nx, u, n, k)
        args = list(args)
        for k, a in enumerate(args):
            self._add_edge(a, n, k)
        self._args[n] = args

    def replace_uses(self, old: int, new: int) -> None:
        """Every use of `old` (as an argument, output or state write) now uses `new`."""
        if old == new:
            return
        self._sync()
        for user, keys in list(self._nx._succ[old].items()):
            self._canonical = False
            args = self._args.get(user)
            for k in list(keys):
                unlink(self._nx, old, user, k)
                self._add_edge(new, user, k)
                if args is not None:
                    args[k] = new
        if old in self.outputs:
            self.outputs = [new if o == old else o for o in self.outputs]
        for name in self._state_writes.names_of(old):
            self._state_writes[name] = new
        for i, w in self.input_grads.items():
            if w == old:
                self.input_grads[i] = new

    def remove_node(self, n: int) -> None:
        if self._nx.version != self._seen:
            self._drop_caches()
        self._drop(n)

    def remove_nodes(self, nodes) -> None:
        """Remove every node of `nodes` that is in the graph (with its edges), as
        networkx's `remove_nodes_from` does (fusion removes every node it fuses so)."""
        if self._nx.version != self._seen:
            self._drop_caches()
        present = self._nx._node
        for n in set(nodes):
            if n in present:
                self._drop(n)

    def _drop(self, n: int) -> None:
        g = self._nx
        users = g._succ[n]
        if users:
            cached = self._args
            for user in users:
                cached.pop(user, None)  # (it loses an argument: recomputed if asked)
            self._canonical = False
        drop_node(g, n)
        self._args.pop(n, None)
        self._removed += 1

    # ------------------------------------------------------------------ reading
    def __getitem__(self, n: int) -> dict:
        return self._nx._node[n]

    def __contains__(self, n: int) -> bool:
        return n in self._nx._node

    def __len__(self) -> int:
        return len(self._nx._node)

    def args(self, n: int) -> list[int]:
        """n's arguments in position order (a fresh list: the caller may change it)."""
        if self._nx.version != self._seen:
            self._drop_caches()
        args = self._args.get(n)
        if args is None:
            pairs = sorted((k, u) for u, keys in self._nx._pred[n].items() for k in keys)
            args = self._args[n] = [u for _, u in pairs]
        return list(args)

    def users(self, n: int) -> list[int]:
        """The nodes that take n as an argument (each once, in the order they were linked)."""
        return list(self._nx._succ[n])

    def live_roots(self) -> list[int]:
        """Nodes the function's results depend on: outputs, state writes, input grads."""
        return [n for n in dict.fromkeys([*self.outputs, *self.state_writes.values(),
                                          *self.input_grads.values()]) if n is not None]

    def is_live_root(self, n: int) -> bool:
        """Whether n is an output, a state write or an input's gradient (constant time
        for state writes: their node index)."""
        return n in self.outputs or bool(self._state_writes.names_of(n)) \
            or n in self.input_grads.values()

    def live_nodes(self, also=()) -> set[int]:
        """Nodes the function's results depend on: the live roots (and the nodes `also`)
        and all they read."""
        live, stack = set(), self.live_roots() + list(also)
        pred = self._nx._pred
        while stack:
            n = stack.pop()
            if n not in live:
                live.add(n)
                stack.extend(p for p in pred[n] if p not in live)
        return live

    def topo_order(self) -> list[int]:
        """The topological order that keeps creation order where it can (RNG draws stay
        put, whatever rewrites came before): the lexicographic one by node id. Cached; a
        new node goes last, a removed sink drops out, and a change of edges that could
        allow an earlier order has it made again."""
        self._sync()
        if self._order is None or not self._canonical:
            self._order = _lexicographic_order(self._nx)
            self._removed, self._canonical = 0, True
            self._pos = {n: i for i, n in enumerate(self._order)}
        return self._filtered_order()

    def any_topo_order(self) -> list[int]:
        """A topological order, not always `topo_order()`'s: the cached one as long as every
        edge still goes forward in it. For passes whose result does not depend on which
        order they visit in (the plan's schedule takes `topo_order()`)."""
        self._sync()
        if self._order is None:
            return self.topo_order()
        return self._filtered_order()

    def _filtered_order(self) -> list[int]:
        if self._removed:
            nodes = self._nx._node
            self._order = [n for n in self._order if n in nodes]
            self._pos = {n: i for i, n in enumerate(self._order)}
            self._removed = 0
        return list(self._order)

    def label(self, n: int) -> str:
        name = self[n].get("name")
        return f"%{name}" if name and self[n]["op"] in ("input", "state") else f"%{n}"

    def nodes_by_phase(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for data in self._nx._node.values():
            counts[data["phase"]] = counts.get(data["phase"], 0) + 1
        return counts

    def kernel_count(self) -> int:
        """How many kernels one run launches (source nodes cost none)."""
        ops = list(map(_OP, self._nx._node.values()))  # (C loops: it runs after each pass)
        return len(ops) - sum(ops.count(op) for op in SOURCE_OPS)

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
        g.nx = copy_structure(self.nx)
        self._sync()
        g._args = {n: list(a) for n, a in self._args.items()}
        if self._order is not None and not self._removed:
            g._order, g._pos = list(self._order), dict(self._pos)
            g._canonical = self._canonical
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
        _verify(self)
        return self

    def __str__(self) -> str:
        return format_graph(self)

    def __repr__(self) -> str:
        return f"<Graph: {len(self)} nodes, {len(self.inputs)} inputs, " \
               f"{len(self.outputs)} outputs, {len(self.state_writes)} state writes>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows the diagram (or the text form when it cannot be drawn)."""
        # layer: viz draws graphs from above the engine (and needs graphviz); it is loaded
        # only when a notebook asks for the picture
        from graphgrad.viz import repr_mimebundle

        return repr_mimebundle(self, include, exclude)

    def node_error(self, n: int, message: str) -> GraphError:
        data = self[n]
        return GraphError(f"%{n} ({data['op']}): {message}", op=data["op"], source=data["source"])


def _lexicographic_order(g: nx.MultiDiGraph) -> list[int]:
    """Kahn's algorithm taking the smallest ready id first (networkx's
    `lexicographical_topological_sort`, on the adjacency dicts directly)."""
    pred, succ = g._pred, g._succ
    waiting = {n: len(p) for n, p in pred.items()}
    ready = [n for n, k in waiting.items() if k == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        n = heapq.heappop(ready)
        order.append(n)
        for s in succ[n]:
            waiting[s] -= 1
            if waiting[s] == 0:
                heapq.heappush(ready, s)
    if len(order) != len(waiting):
        raise GraphError("the graph has a cycle: it has no topological order")
    return order
