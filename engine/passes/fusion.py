"""Elementwise fusion (in place): maximal groups of elementwise nodes become one `fused` node.

Groups grow along producer -> consumer edges, across broadcasting, scalar operands
and phases (forward, backward, optimizer update), as long as the graph of groups stays
acyclic: a producer joins its consumer's group only if no path leaves the group and
comes back. A group's values used outside it become the fused node's outputs (with
`get` nodes when there are several). The fused node carries a `FusedProgram` listing
the ops it replaced and their source lines, for backends and for the diagrams.
"""

from __future__ import annotations

import numpy as np

from ..ir.fused import FusedProgram, Step
from ..ops.registry import REGISTRY


def is_fusable(graph, n) -> bool:
    op = REGISTRY.get(graph[n]["op"])
    return op is not None and op.elementwise and not op.random


class _Groups:
    """Union-find over nodes, each group remembering its members."""

    def __init__(self, nodes):
        self.parent = {n: n for n in nodes}
        self.members = {n: [n] for n in nodes}

    def find(self, n):
        while self.parent[n] != n:
            self.parent[n] = self.parent[self.parent[n]]
            n = self.parent[n]
        return n

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb
            self.members[rb] += self.members.pop(ra)


def _creates_cycle(graph, groups, pos, producer_root, consumer_root) -> bool:
    """Whether merging would close a cycle among groups: a path producer-group ->
    (nodes or other groups) -> consumer-group. Other groups count as single nodes,
    so a walk that enters one continues from all of its members."""
    targets = set(groups.members[consumer_root])
    limit = max(pos[m] for m in targets)
    inside = set(groups.members[producer_root]) | targets
    stack = [s for m in groups.members[producer_root] for s in graph.nx.succ[m]
             if s not in inside]
    seen = set()
    while stack:
        n = stack.pop()
        if n in seen or pos[n] > limit:
            continue
        seen.add(n)
        if n in groups.parent:
            expand = groups.members[groups.find(n)]
            seen.update(expand)
        else:
            expand = (n,)
        for m in expand:
            for s in graph.nx.succ[m]:
                if s in targets:
                    return True
                if s not in inside and s not in seen:
                    stack.append(s)
    return False


def find_groups(graph) -> list[list[int]]:
    order = graph.topo_order()
    pos = {n: i for i, n in enumerate(order)}
    fusable = [n for n in order if is_fusable(graph, n)]
    groups = _Groups(fusable)
    for n in fusable:
        for a in graph.args(n):
            if a not in groups.parent:
                continue
            ra, rn = groups.find(a), groups.find(n)
            if ra != rn and not _creates_cycle(graph, groups, pos, ra, rn):
                groups.union(a, n)
    result = [sorted(m, key=pos.get) for m in groups.members.values() if len(m) > 1]
    return sorted(result, key=lambda m: pos[m[0]])


def _program(graph, members, roots):
    member_set = set(members)
    inputs, reg = [], {}
    for n in members:
        for a in graph.args(n):
            if a not in member_set and a not in reg:
                reg[a] = len(inputs)
                inputs.append(a)
    steps = []
    for i, n in enumerate(members):
        reg[n] = len(inputs) + i
        d = graph[n]
        steps.append(Step(d["op"], tuple(reg[a] for a in graph.args(n)), dict(d["attrs"]),
                          d["shape"], d["dtype"], d["source"]))
    outputs = [n for n in members
               if n in roots or any(u not in member_set for u in graph.nx.succ[n])]
    program = FusedProgram(tuple((graph[a]["shape"], graph[a]["dtype"]) for a in inputs),
                           tuple(steps), tuple(reg[o] for o in outputs))
    return program, inputs, outputs


def fuse_group(graph, members, roots) -> int:
    program, inputs, outputs = _program(graph, members, roots)
    first = graph[outputs[0]]
    phases = [graph[m]["phase"] for m in members]
    fused = graph.add_node(
        "fused", inputs, {"program": program}, shape=first["shape"], dtype=first["dtype"],
        phase=first["phase"] if len(set(phases)) == 1 else graph[outputs[-1]]["phase"],
        source=first["source"], scope=first["scope"])
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
               and int(np.prod(graph[n]["shape"], dtype=np.int64)) >= SINGLE_MIN]
    for members in groups + singles:
        fuse_group(graph, members, roots)
    return graph
