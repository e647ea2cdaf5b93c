"""Horizontal fusion over flat state (in place): one update kernel for many parameters.

After `fusion`, an optimizer step is one fused node per parameter, running the same
program (Adam's, say) on each parameter's shape. For small parameters a call costs more
in dispatch than in arithmetic, so this pass merges such sibling nodes into one fused
node over flat buffers, as PyTorch's foreach/fused optimizers do:

- state that each member reads and overwrites (the parameter, Adam's moments) moves
  into one flat buffer per role (a `FlatRef`), the tensors becoming views of it, so the
  merged kernel updates all of them in place;
- the members' other array arguments (the gradients) are concatenated at run time;
- 0-d arguments are the same node for every member (lr, betas), or per-member scalar
  state holding equal values (Adam's step counts). Those are read from the first
  member, and a guard on the plan retraces the step if they ever come apart.

Members larger than `FOREACH_MAX` elements keep their own kernel: they are bound by
memory traffic, and the concatenation would add a pass over their gradients.
Runs only on backends with `flat_state` (views of one buffer, see `Backend.pack`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import attrgetter, is_

import numpy as np

from ..errors import GraphgradError
from ..ir.fused import FusedProgram, Step
from .memory import fused_output_nodes

FOREACH_MAX = 1 << 16  # elements


class FlatRef:
    """State of several tensors kept in one flat buffer, each tensor a view of it.

    `read()` returns the buffer, first copying in any tensor whose value was replaced
    since (`p.data = ...`, `load_state_dict`, an eager step), so the views stay the
    tensors' values. Writing the buffer in place updates every tensor at once.
    """

    kind = "flat"

    def __init__(self, names, tensors, backend, transposed=()):
        self.aliases = tuple(names)  # memory planning: these states are views of this one
        self.tensors = tuple(tensors)
        self.shapes = tuple(t.shape for t in tensors)
        # members kept column-major (passes/layout.py): stored as their transpose
        self.transposed = tuple(transposed) or (False,) * len(self.tensors)
        self.backend = backend
        self.flat = None
        self.views: tuple = ()

    def read(self):
        if self.flat is None or not all(map(is_, map(_value, self.tensors), self.views)):
            self._pack()
        return self.flat

    def write(self, value):
        if value is not self.flat:
            self.flat[...] = value  # the tensors are views of it: they see the new values

    def _pack(self):
        values = [t._value for t in self.tensors]
        for name, shape, v in zip(self.aliases, self.shapes, values):
            if tuple(v.shape) != tuple(shape):
                raise GraphgradError(f"state {name!r} has shape {tuple(v.shape)}, but the "
                                     f"compiled step was traced with {tuple(shape)}")
        permute = self.backend.kernels["permute"]
        flip = lambda v, t: permute(v, axes=(1, 0)) if t else v  # noqa: E731
        self.flat = self.backend.pack([flip(v, t) for v, t in zip(values, self.transposed)])
        stored = [s[::-1] if t else s for s, t in zip(self.shapes, self.transposed)]
        self.views = tuple(flip(v, t) for v, t in zip(self.backend.views(self.flat, stored),
                                                       self.transposed))
        for t, view in zip(self.tensors, self.views):
            t._value = view


_value = attrgetter("_value")


@dataclass
class _Member:
    node: int
    program: FusedProgram
    args: list[int]
    outs: list[int]  # the node holding each program output (the fused node or its `get`)
    shape: tuple[int, ...]
    roles: dict[int, tuple[int, str]]  # input position -> (output position, state name)
    transposed: bool = False  # kept column-major (passes/layout.py)


def _full_shape(program):
    """The one non-0-d shape of every register, or None when shapes mix (broadcasting)."""
    shapes = {tuple(shape) for shape, _ in program.input_types}
    shapes.update(tuple(step.shape) for step in program.steps)
    shapes.discard(())
    return shapes.pop() if len(shapes) == 1 else None


def _member(graph, n) -> _Member | None:
    """n as a candidate: an update-phase fused node, elementwise over one shape, whose
    array outputs only overwrite the state it read."""
    data = graph[n]
    if data["op"] != "fused" or data["phase"] != "update":
        return None
    program, order = data["attrs"]["program"].canonical()
    shape = _full_shape(program)
    if shape is None or not 0 < math.prod(shape) <= FOREACH_MAX:
        return None
    if any(k in ("shape", "axis", "axes") for s in program.steps for k in s.attrs):
        return None
    node_args = graph.args(n)
    args = [node_args[i] for i in order]
    outs = fused_output_nodes(graph, n, len(program.outputs))
    read_at = {a: i for i, a in enumerate(args) if graph[a]["op"] == "state"}
    roles = {}
    for j, (o, (out_shape, _)) in enumerate(zip(outs, program.output_types)):
        if not out_shape:
            continue
        names = graph.state_writes.names_of(o)  # (a node index: no scan per output)
        name = names[0] if len(names) == 1 else None
        i = read_at.get(graph.state_reads.get(name, -1))
        if (name is None or i is None or graph.users(o) or o in graph.outputs
                or o in graph.input_grads.values()
                or graph.state_refs[name].kind != "tensor"):
            return None  # an array output with other uses: leave the node alone
        roles[i] = (j, name)
    transposed = any(graph[args[i]]["attrs"].get("layout") == "F" for i in roles)
    return _Member(n, program, args, outs, shape, roles, transposed)


def _scalar_state(graph, member, i) -> str | None:
    """The name of member's per-member scalar state at input i (read and written back by
    the member itself), else None."""
    a = member.args[i]
    data = graph[a]
    if data["op"] != "state" or graph.state_refs[data["name"]].kind != "tensor":
        return None
    written = any(data["name"] in graph.state_writes.names_of(o) for o in member.outs)
    return data["name"] if written else None


def _group_key(graph, member, backend):
    """Members with equal keys can run as one program over their concatenation."""
    p = member.program
    erase = lambda s: "*" if s else ()  # noqa: E731
    scalars = []
    for i, (shape, _) in enumerate(p.input_types):
        if shape:
            continue
        name = _scalar_state(graph, member, i)
        if name is None:
            scalars.append((i, "node", member.args[i]))
        else:
            value = backend.to_numpy(graph.state_refs[name].read())
            scalars.append((i, "value", np.asarray(value).item()))
    return (*p.key_by(erase), tuple(sorted((i, j) for i, (j, _) in member.roles.items())),
            tuple(scalars))


def _flat_program(program, size) -> FusedProgram:
    flat = lambda s: (size,) if s else ()  # noqa: E731
    return FusedProgram(
        tuple((flat(s), d) for s, d in program.input_types),
        tuple(Step(s.op, s.args, s.attrs, flat(s.shape), s.dtype, s.source)
              for s in program.steps),
        program.outputs)


def _node(graph, op, args, attrs, shape, dtype, name=None):
    return graph.add_node(op, args, attrs, shape=shape, dtype=dtype, phase="update",
                          name=name)


def _untransposed(graph, a) -> int:
    """a.T as a node: the argument of a transpose, else a new transpose."""
    if graph[a]["op"] == "permute" and tuple(graph[a]["attrs"]["axes"]) == (1, 0):
        return graph.args(a)[0]
    d = graph[a]
    return _node(graph, "permute", [a], {"axes": (1, 0)}, d["shape"][::-1], d["dtype"])


def _concat(graph, nodes, members, dtype):
    """The members' arrays raveled one after another, each in its flat buffer's order."""
    flat = []
    for a, m in zip(nodes, members):
        k = math.prod(m.shape)
        if m.transposed:
            a = _untransposed(graph, a)
        flat.append(a if graph[a]["shape"] == (k,) else
                    _node(graph, "reshape", [a], {"shape": (k,)}, (k,), dtype))
    return _node(graph, "concat", flat, {"axis": 0}, (sum(graph[f]["shape"][0] for f in flat),),
                 dtype)


def _merge(graph, members, backend) -> None:
    first, program = members[0], members[0].program
    total = sum(math.prod(m.shape) for m in members)
    flat_states, per_member = {}, []
    args = []
    for i, (shape, dtype) in enumerate(program.input_types):
        if not shape:
            args.append(first.args[i])
            name = _scalar_state(graph, first, i)
            if name is not None:
                per_member.append([_scalar_state(graph, m, i) for m in members])
        elif i in first.roles:
            names = [m.roles[i][1] for m in members]
            flat_name = f"{names[0]}(+{len(names) - 1})"
            tensors = [graph.state_refs[name].tensor for name in names]
            graph.state_refs[flat_name] = FlatRef(names, tensors, backend,
                                                  [m.transposed for m in members])
            read = _node(graph, "state", [], {}, (total,), dtype, name=flat_name)
            graph.state_reads[flat_name] = read
            flat_states[first.roles[i][0]] = (flat_name, names)
            args.append(read)
        else:
            args.append(_concat(graph, [m.args[i] for m in members], members, dtype))
    merged = _flat_program(program, total)
    out_types = merged.output_types
    fused = _node(graph, "fused", args, {"program": merged}, *out_types[0])
    graph[fused]["source"] = graph[first.node]["source"]
    outs = [fused] if len(out_types) == 1 else [
        _node(graph, "get", [fused], {"index": j}, *out_types[j]) for j in range(len(out_types))]
    for j, out in enumerate(outs):
        if j in flat_states:
            flat_name, names = flat_states[j]
            for name in names:
                del graph.state_writes[name]
            graph.state_writes[flat_name] = out
        else:  # a 0-d result: equal for every member (their scalar inputs are equal)
            for m in members:
                graph.replace_uses(m.outs[j], out)
    for m in members:
        graph.remove_nodes({m.node, *m.outs})
    _drop_unused_reads(graph, [n for m in members for n in m.args])
    for names in per_member:
        graph.guards.append(_equal_guard(graph, names))


def _drop_unused_reads(graph, nodes) -> None:
    for n in set(nodes):
        if n in graph and graph[n]["op"] == "state" and not graph.users(n) \
                and not graph.state_writes.names_of(n):
            del graph.state_reads[graph[n]["name"]]
            graph.remove_node(n)


def _equal_guard(graph, names):
    first, *rest = [graph.state_refs[name].tensor for name in names]

    def equal() -> bool:  # run before every call: identity first (the plan writes one value)
        value = first._value
        return all(v is value or bool(v == value) for v in map(_value, rest))

    return (f"the per-parameter state {names[0]}, ... ({len(names)} values) came apart",
            equal)


def merge_foreach(graph, ctx=None):
    backend = getattr(ctx, "backend", None)
    if not getattr(backend, "flat_state", False):
        return graph
    groups: dict[tuple, list[_Member]] = {}
    for n in graph.any_topo_order():
        member = _member(graph, n)
        if member is not None:
            groups.setdefault(_group_key(graph, member, backend), []).append(member)
    for members in groups.values():
        if len(members) > 1:
            _merge(graph, members, backend)
    return graph
