"""The containers under `Graph` that let it keep its indexes current in constant time.

`Graph` caches each node's argument list and a topological order, and indexes state
writes by node, so that passes do constant work per node instead of sorting in-edges
or scanning every state write on each rewrite (issue 18: compile time linear in the
graph's size). Two small containers make those caches safe:

- `TrackedMultiDiGraph`: a `networkx.MultiDiGraph` that counts its structural
  changes. Graph's own mutators update the caches and note the count; a change made
  straight through `graph.nx` (by code outside Graph) leaves the count ahead, and Graph
  then drops its caches instead of serving stale ones.
- `NodeIndexedDict`: `state name -> node` that also answers `names_of(node)`.
"""

from __future__ import annotations

import networkx as nx

_MUTATORS = ("add_node", "add_nodes_from", "remove_node", "remove_nodes_from", "add_edge",
             "add_edges_from", "add_weighted_edges_from", "remove_edge", "remove_edges_from",
             "update", "clear", "clear_edges")


class TrackedMultiDiGraph(nx.MultiDiGraph):
    """A MultiDiGraph whose `version` grows with every change of nodes or edges."""

    version = 0


def _counting(name: str):
    base = getattr(nx.MultiDiGraph, name)

    def mutator(self, *args, **kwargs):
        self.version += 1
        return base(self, *args, **kwargs)

    mutator.__name__, mutator.__doc__ = name, base.__doc__
    return mutator


for _name in _MUTATORS:
    setattr(TrackedMultiDiGraph, _name, _counting(_name))


# Graph's own mutators change the adjacency dicts directly (networkx's MultiDiGraph
# layout: `_node`, and `_succ[u][v]` / `_pred[v][u]` sharing one {key: data} dict per
# node pair): networkx's generic methods cost more than the rest of a rewrite. They
# leave `version` alone (Graph updates its caches itself) and clear networkx's own
# cache as its methods do.
def _changed(g) -> None:
    cache = getattr(g, "__networkx_cache__", None)
    if cache:
        cache.clear()


def new_node(g: TrackedMultiDiGraph, n: int, data: dict) -> None:
    g._node[n] = data
    g._succ[n] = {}
    g._pred[n] = {}
    _changed(g)


def link(g: TrackedMultiDiGraph, u: int, v: int, key: int) -> bool:
    """Add the edge u -> v with `key`; False if u is not a node."""
    succ = g._succ.get(u)
    if succ is None:
        return False
    keys = succ.get(v)
    if keys is None:
        keys = succ[v] = g._pred[v][u] = {}
    keys[key] = {}
    _changed(g)
    return True


def unlink(g: TrackedMultiDiGraph, u: int, v: int, key: int) -> None:
    keys = g._succ[u][v]
    del keys[key]
    if not keys:
        del g._succ[u][v], g._pred[v][u]
    _changed(g)


def drop_node(g: TrackedMultiDiGraph, n: int) -> None:
    for u in g._pred[n]:
        del g._succ[u][n]
    for v in g._succ[n]:
        del g._pred[v][n]
    del g._succ[n], g._pred[n], g._node[n]
    _changed(g)


def copy_structure(g: nx.MultiDiGraph) -> TrackedMultiDiGraph:
    """A copy of `g` (node attribute dicts copied one level, as `nx.MultiDiGraph.copy`),
    built from its adjacency dicts directly: networkx's copy re-adds edge by edge."""
    h = TrackedMultiDiGraph()
    h.graph.update(g.graph)
    h._node.update((n, dict(d)) for n, d in g._node.items())
    succ = {n: {} for n in g._node}
    pred = {n: {} for n in g._node}
    for u, nbrs in g._succ.items():
        out = succ[u]
        for v, keys in nbrs.items():
            if len(keys) == 1:  # (one argument position: no comprehension to run)
                for k, d in keys.items():
                    copied = {k: dict(d)}
            else:
                copied = {k: dict(d) for k, d in keys.items()}
            out[v] = copied
            pred[v][u] = copied
    h._succ.update(succ)  # (in place: networkx's cached views hold these dicts)
    h._pred.update(pred)
    h.version += 1
    return h


class NodeIndexedDict(dict):
    """`name -> node id` (or None) with the reverse index `names_of(node)`.

    Every way of changing a dict is overridden so the index cannot go stale.
    """

    def __init__(self, *args, **kwargs):
        super().__init__()
        self._names: dict = {}
        self.update(*args, **kwargs)

    def names_of(self, node) -> tuple:
        """The names whose value is `node` (in insertion order)."""
        return tuple(self._names.get(node, ()))

    def _forget(self, name) -> None:
        names = self._names.get(dict.__getitem__(self, name))
        if names is not None:
            names.pop(name, None)

    def __setitem__(self, name, node) -> None:
        if name in self:
            self._forget(name)
        dict.__setitem__(self, name, node)
        self._names.setdefault(node, {})[name] = None

    def __delitem__(self, name) -> None:
        self._forget(name)
        dict.__delitem__(self, name)

    def pop(self, name, *default):
        if name in self:
            self._forget(name)
        return dict.pop(self, name, *default)

    def popitem(self):
        name, node = dict.popitem(self)
        self._names[node].pop(name, None)
        return name, node

    def setdefault(self, name, node=None):
        if name not in self:
            self[name] = node
        return dict.__getitem__(self, name)

    def update(self, *args, **kwargs) -> None:
        for name, node in dict(*args, **kwargs).items():
            self[name] = node

    def __ior__(self, other):
        self.update(other)
        return self

    def clear(self) -> None:
        dict.clear(self)
        self._names.clear()

    def copy(self) -> NodeIndexedDict:
        return NodeIndexedDict(self)
