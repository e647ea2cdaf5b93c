"""Elementwise fusion (in place): maximal groups of elementwise nodes become one `fused` node.

Groups grow along producer -> consumer edges, across broadcasting, scalar operands
and phases (forward, backward, optimizer update), as long as the graph of groups stays
acyclic: a producer joins its consumer's group only if no path leaves the group and
comes back. A group's values used outside it become the fused node's outputs (with
`get` nodes when there are several). The fused node carries a `FusedProgram` listing
the ops it replaced and their source lines, for backends and for the diagrams.
On backends whose fused kernels reduce (`Backend.fused_reductions`), a group also takes
in the full sums of its arrays (a loss's sum over its terms): `absorb_full_sums`.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir.fused import FusedProgram, Step
from ..ir.graph import SOURCE_OPS
from ..ops.registry import REGISTRY


def is_fusable(graph, n) -> bool:
    op = REGISTRY.get(graph[n]["op"])
    return op is not None and op.elementwise and not op.random


def _fusable_ops() -> set[str]:
    """The names `is_fusable` accepts (a set lookup per node instead of a call)."""
    return {name for name, op in REGISTRY.items() if op.elementwise and not op.random}


class _Groups:
    """Union-find over nodes, each group remembering its members and which hubs it
    reaches (`up`) and is reached from (`down`), as bit masks (see `_hub_masks`)."""

    def __init__(self, nodes, up, down):
        self.parent = {n: n for n in nodes}
        self.members = {n: [n] for n in nodes}
        self.up = {n: up[n] for n in nodes}
        self.down = {n: down[n] for n in nodes}

    def find(self, n):
        while self.parent[n] != n:
            self.parent[n] = self.parent[self.parent[n]]
            n = self.parent[n]
        return n

    def root(self, n):
        """n's group, or None when n is in no group (not fusable)."""
        return self.find(n) if n in self.parent else None

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if len(self.members[ra]) > len(self.members[rb]):
            ra, rb = rb, ra  # (the smaller group moves: linear-logarithmic in all)
        self.parent[ra] = rb
        self.members[rb] += self.members.pop(ra)
        self.up[rb] |= self.up.pop(ra)
        self.down[rb] |= self.down.pop(ra)


HUB_SPACING = 16  # every 16th non-fusable node (in topological order) is a hub,
MAX_HUBS = 256  # but no more than this many: a mask is then at most four machine words


def _hub_masks(graph, order, fusable) -> tuple[dict, dict]:
    """For each node, the hubs it reaches (`up`) and those that reach it (`down`), as
    bit masks. A hub is a node fusion never moves, so a group that reaches a hub
    another group is reached from has a path to it through an outside node: merging
    the two would close a cycle. This answers in constant time the queries that would
    otherwise search the long way round (a forward relu and the backward mask of it,
    joined through the rest of the network and the loss)."""
    hubs = [n for n in order if n not in fusable and graph[n]["op"] not in SOURCE_OPS]
    spacing = max(HUB_SPACING, -(-len(hubs) // MAX_HUBS))  # (masks stay a few words long)
    bit = {n: 1 << i for i, n in enumerate(hubs[::spacing])}
    succ, pred = graph.nx._succ, graph.nx._pred
    down: dict[int, int] = {}
    for n in order:
        mask = bit.get(n, 0)
        for p in pred[n]:
            mask |= down[p]
        down[n] = mask
    up: dict[int, int] = {}
    for n in reversed(order):
        mask = bit.get(n, 0)
        for s in succ[n]:
            mask |= up[s]
        up[n] = mask
    return up, down


class _Search:
    """One direction of the search for an outside path from group `start` to group
    `target` (forward along users, or backward along arguments); other groups count as
    single nodes, so entering one continues from all of its members."""

    def __init__(self, groups, adjacency, start, target, within):
        self.groups, self.adj, self.start, self.target = groups, adjacency, start, target
        self.within = within  # whether a node outside groups can still lie on such a path
        self.stack = list(groups.members[start])
        self.seen: set[int] = set()
        self.other: _Search | None = None

    def step(self) -> bool | None:
        """True: a path exists; False: none does; None: not known yet."""
        if not self.stack:
            return False
        n = self.stack.pop()
        parent, find = self.groups.parent, self.groups.find
        outside = (find(n) if n in parent else None) != self.start
        for s in self.adj[n]:
            r = find(s) if s in parent else None  # (`groups.root`, inlined)
            if r == self.start:
                continue
            if r == self.target:
                if outside:
                    return True
                continue
            if s in self.seen or r is None and not self.within(s):
                continue  # (a group is entered whole: what one member cannot, another may)
            if s in self.other.seen:
                return True  # start reaches s and s reaches target
            expand = (s,) if r is None else self.groups.members[r]
            self.seen.update(expand)
            self.stack.extend(expand)
        return None


def _sealed(groups, adjacency, start, other, most: int = 16) -> bool:
    """Whether small group `start` has no neighbours (along `adjacency`) outside itself
    and `other` that could lie on a path between them: the common case (an Adam step's
    chain, a bias add read only by its relu), settled without a search."""
    members = groups.members[start]
    if len(members) > most:
        return False
    parent, find = groups.parent, groups.find
    for m in members:
        for s in adjacency[m]:
            if s not in parent:  # not fusable: it may lead on if it has neighbours
                if adjacency[s]:
                    return False
                continue
            r = find(s)  # (a group is entered whole: no shortcut for its members)
            if r != start and r != other:
                return False
    return True


def _creates_cycle(graph, groups, pos, producer_root, consumer_root, limit) -> bool:
    """Whether merging would close a cycle among groups: a path producer-group ->
    (nodes or other groups) -> consumer-group. Hubs settle most queries; the rest
    search forward from the producer and backward from the consumer in turns, which
    stops as soon as either side runs out (a relu and the `gt` reading only it)."""
    if groups.up[producer_root] & groups.down[consumer_root]:
        return True
    succ, pred = graph.nx._succ, graph.nx._pred
    if _sealed(groups, succ, producer_root, consumer_root) or \
            _sealed(groups, pred, consumer_root, producer_root):
        return False
    # `limit`: the consumer's position. Groups hold only nodes up to it (fusion runs in
    # topological order), so nothing after it can lead back into the consumer's group.
    # (a node nothing reads cannot lead on, one that reads nothing cannot be reached)
    forward = _Search(groups, succ, producer_root, consumer_root,
                      lambda s: pos[s] <= limit and bool(succ[s]))
    backward = _Search(groups, pred, consumer_root, producer_root, lambda s: bool(pred[s]))
    forward.other, backward.other = backward, forward
    try:
        while True:
            for search in (forward, backward):
                found = search.step()
                if found is not None:
                    return found
    finally:  # the two searches point at each other: no cycle left for the collector
        forward.other = backward.other = None


def find_groups(graph) -> list[list[int]]:
    order = graph.topo_order()
    pos = {n: i for i, n in enumerate(order)}
    nodes, ops = graph.nx._node, _fusable_ops()
    fusable = [n for n in order if nodes[n]["op"] in ops]
    groups = _Groups(fusable, *_hub_masks(graph, order, set(fusable)))
    parent, find = groups.parent, groups.find
    for n in fusable:
        for a in graph.args(n):
            if a not in parent:
                continue
            ra, rn = find(a), find(n)
            if ra != rn and not _creates_cycle(graph, groups, pos, ra, rn, pos[n]):
                groups.union(a, n)
    result = [sorted(m, key=pos.get) for m in groups.members.values() if len(m) > 1]
    return sorted(result, key=lambda m: pos[m[0]])


def _program(graph, members, roots):
    member_set = set(members)
    nodes, succ = graph.nx._node, graph.nx._succ
    member_args = [graph.args(n) for n in members]
    inputs, reg = [], {}
    for args in member_args:
        for a in args:
            if a not in member_set and a not in reg:
                reg[a] = len(inputs)
                inputs.append(a)
    steps = []
    for i, (n, args) in enumerate(zip(members, member_args)):
        reg[n] = len(inputs) + i
        d = nodes[n]
        steps.append(Step.make(d["op"], tuple([reg[a] for a in args]), dict(d["attrs"]),
                               d["shape"], d["dtype"], d["source"]))
    outputs = [n for n in members
               if n in roots or not member_set.issuperset(succ[n])]
    program = FusedProgram(tuple([(nodes[a]["shape"], nodes[a]["dtype"]) for a in inputs]),
                           tuple(steps), tuple([reg[o] for o in outputs]))
    return program, inputs, outputs


def fuse_group(graph, members, roots) -> int | None:
    program, inputs, outputs = _program(graph, members, roots)
    if not outputs:  # dead code (a pipeline without `dce`): nothing to fuse it for
        return None
    first = graph[outputs[0]]
    phases = [graph[m]["phase"] for m in members]
    fused = graph.add_node(
        "fused", inputs, {"program": program}, shape=first["shape"], dtype=first["dtype"],
        phase=first["phase"] if len(set(phases)) == 1 else graph[outputs[-1]]["phase"],
        source=first["source"], scope=first["scope"])
    graph[fused]["phases"] = tuple(dict.fromkeys(phases))  # (diagrams: what it spans)
    if len(outputs) == 1:
        graph.replace_uses(outputs[0], fused)
    else:
        for i, o in enumerate(outputs):
            get = graph.add_like(o, "get", [fused], {"index": i}, shape=graph[o]["shape"])
            graph.replace_uses(o, get)
    graph.remove_nodes(members)
    return fused


# A lone elementwise node this large also becomes a (one-step) fused node, so memory
# planning can hand it a dead buffer to write into instead of a fresh allocation.
SINGLE_MIN = 1 << 16


def fuse_elementwise(graph, ctx=None):
    roots = set(graph.live_roots())
    groups = find_groups(graph)
    grouped = {n for g in groups for n in g}
    singles = [[n] for n in graph.nx if n not in grouped and is_fusable(graph, n)
               and math.prod(graph[n]["shape"]) >= SINGLE_MIN]
    groups += singles
    if getattr(getattr(ctx, "backend", None), "fused_reductions", False):
        absorb_full_sums(graph, groups)
    for members in groups:
        fuse_group(graph, members, roots)
    return graph


def absorb_full_sums(graph, groups) -> None:
    """Add to each group the full sums (to shape (), of floats) of its arrays, as the
    last steps of its program: the backend reduces each chunk while it is in cache. An
    array nothing else reads (a loss's per-element terms, 16 MB for 4M floats) is then
    never written out nor read back; one read elsewhere too stays an output, and is not
    read a second time for its sum. No cycle can result: a group is convex (no path
    leaves it and comes back), so a sum of one of its nodes cannot lead back into it.

    The scalar arithmetic on such sums that reads nothing else but graph inputs and
    constants (a mean's 1/n, a loss's weight) joins too: NumPy's fused code runs 0-d
    steps on scalars, ~0.4 us cheaper than a kernel call each. Its arguments come
    from the group or from nowhere, so it cannot close a cycle either."""
    group_of = {n: k for k, members in enumerate(groups) for n in members}
    nodes, ops, summed = graph.nx._node, _fusable_ops(), set()
    for n in graph.topo_order():
        d = nodes[n]
        if d["shape"] or n in group_of:
            continue
        args = graph.args(n)
        if d["op"] == "sum" and np.dtype(d["dtype"]).kind == "f":
            k = group_of.get(args[0])
            if k is None or not nodes[args[0]]["shape"]:
                continue
        elif d["op"] in ops and any(a in summed for a in args):
            ks = {group_of.get(a) for a in args if nodes[a]["op"] not in SOURCE_OPS}
            if len(ks) != 1 or None in ks:
                continue
            (k,) = ks
        else:
            continue
        groups[k].append(n)
        group_of[n] = k
        summed.add(n)
