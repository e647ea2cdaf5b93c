"""Memory planning (in place): fix the schedule (passes/schedule.py) and let fused kernels
write into dead buffers.

From the schedule's liveness, each output of a fused node may reuse the buffer of one
of its arguments when that argument dies at this node, has the same shape and dtype,
and is a buffer the plan owns: a fresh kernel result, or the state value this very
output overwrites (an in-place parameter / optimizer-state update). Inputs the caller
passed in, constants and views (reshape, permute, broadcast, slicing) are never
written, except a reshape that is the only user of an owned buffer dying there. The
result is recorded as node attributes the lowering reads: `schedule` (graph-level:
the node order) and, on fused nodes, `reuse`: one argument position (or None) per
program output.
"""

from __future__ import annotations

import math

import numpy as np

from ..ops.registry import REGISTRY
from .schedule import schedule


def _is_view(op: str) -> bool:
    """A node whose value may be (part of) its first argument's buffer: a view op of the
    registry, or a `get` picking one output of a multi-output node."""
    return op == "get" or op in REGISTRY and REGISTRY[op].view


def last_uses(graph, order) -> dict[int, int]:
    """node -> position in `order` of its last user (outputs and state writes live on)."""
    pos = {n: i for i, n in enumerate(order)}
    end = len(order)
    last = {}
    for n in order:
        users = graph.users(n)
        last[n] = max((pos[u] for u in users), default=-1)
    for n in graph.live_roots():
        if n is not None:
            last[n] = end
    return last


SMALL_VALUE = 64 << 10  # bytes: a value this small is not worth its `del` line
SMALL_VALUES = 256 << 10  # bytes: at most this much is kept to the end of a call


def kept_to_the_end(graph, order) -> set[int]:
    """Values left alive until the call returns instead of dropped after their last
    use: the first small ones, up to SMALL_VALUES bytes in all. A `del` line costs
    ~0.03 us, as much as a tiny step's arithmetic; memory this small is no reason to
    pay it (a large value is still dropped as soon as it is dead). Views are never
    kept: a small view (`big[0]`) would keep its large base alive."""
    kept, total = set(), 0
    for n in order:
        data = graph[n]
        op = data["op"]
        if not isinstance(data.get("shape"), tuple) or op in REGISTRY and REGISTRY[op].view:
            continue
        size = math.prod(data["shape"]) * np.dtype(data["dtype"]).itemsize
        if size <= SMALL_VALUE and total + size <= SMALL_VALUES:
            kept.add(n)
            total += size
    return kept


def buffer_last_uses(graph, order, last) -> dict[int, int]:
    """Like `last_uses`, but a buffer lives as long as any view of it (reshape, permute,
    broadcast_to, index, get) is still used: writing into it would change the view."""
    ext = dict(last)
    for n in reversed(order):
        for v in graph.users(n):
            if _is_view(graph[v]["op"]) and graph.args(v)[:1] == [n]:
                ext[n] = max(ext[n], ext[v])
    return ext


def alias_last_uses(graph, last) -> dict[int, int]:
    """A flat state buffer (passes/foreach.py) lives as long as the reads of the tensors
    that are views of it."""
    for name, n in graph.state_reads.items():
        for alias in getattr(graph.state_refs[name], "aliases", ()):
            m = graph.state_reads.get(alias)
            if m is not None:
                last[n] = max(last[n], last[m])
    return last


def _owned(graph, a) -> bool:
    op = graph[a]["op"]
    if op == "get":
        return graph[graph.args(a)[0]]["op"] == "fused"
    return op == "fused" or op in REGISTRY and not REGISTRY[op].view  # (not input/state)


def plan_memory(graph, ctx=None):
    order = schedule(graph)
    graph.schedule = order
    last = alias_last_uses(graph, buffer_last_uses(graph, order, last_uses(graph, order)))
    pos = {n: i for i, n in enumerate(order)}
    writes_by_node = {}
    for name, n in graph.state_writes.items():
        if n is not None:
            writes_by_node.setdefault(n, set()).add(name)
    for n in order:
        if graph[n]["op"] != "fused":
            continue
        program = graph[n]["attrs"]["program"]
        args = graph.args(n)
        out_nodes = fused_output_nodes(graph, n, len(program.outputs))
        taken, reuse = set(), []
        for out_node, (shape, dtype) in zip(out_nodes, program.output_types):
            fits = [i for i, a in enumerate(args)
                    if i not in taken and last[a] == pos[n] and args.count(a) == 1
                    and graph[a]["shape"] == shape and graph[a]["dtype"] == dtype
                    and shape]  # (0-d values may be NumPy scalars: nothing to write into)
            # Prefer the state this output overwrites (a true in-place update), then any
            # dead buffer the plan owns.
            choice = next((i for i in fits if _is_own_state(graph, args[i], out_node,
                                                            writes_by_node)), None)
            if choice is None:
                choice = next((i for i in fits if _owned(graph, args[i])
                               and args[i] not in graph.outputs), None)
            if choice is None:
                choice = next((i for i in fits if _reshaped_dead_buffer(
                    graph, args[i], last, pos[n])), None)
            if choice is not None:
                taken.add(choice)
            reuse.append(choice)
        graph[n]["reuse"] = tuple(reuse)
    return graph


def _reshaped_dead_buffer(graph, a, last, here: int) -> bool:
    """Whether `a` is a reshape of a buffer the plan owns whose only user is `a` and
    which dies here (a GEMM's result reshaped back to (batch, seq, features) before a
    bias add): writing into the reshape writes into that buffer, or, where the reshape
    had to copy, into the copy; nothing reads either afterwards."""
    d = graph[a]
    if d["op"] != "reshape" or a in graph.outputs:
        return False
    (base,) = graph.args(a)[:1]
    return _owned(graph, base) and base not in graph.outputs and \
        list(graph.users(base)) == [a] and last[base] == here


def _is_own_state(graph, a, out_node, writes_by_node) -> bool:
    d = graph[a]
    return d["op"] == "state" and not d["attrs"].get("scalar") and \
        d["name"] in writes_by_node.get(out_node, ()) and \
        graph.state_refs[d["name"]].kind in ("tensor", "flat")


def fused_output_nodes(graph, n, count) -> list[int]:
    """The node holding each output of fused node n (n itself, or its `get` nodes)."""
    if count == 1:
        return [n]
    gets = {graph[u]["attrs"]["index"]: u for u in graph.users(n)}
    return [gets.get(i, -1) for i in range(count)]
