"""`FusedProgram`: what a fused elementwise node computes, as a tiny register program.

The fusion pass replaces a group of elementwise nodes by one node with
`op="fused"` and `attrs={"program": FusedProgram}`. Registers `0..n_inputs-1` hold
the node's arguments; register `n_inputs + i` holds step i's result. A program with
one output makes the node's value that array; with several, the node's value is a
tuple and `get` nodes (`attrs={"index": i}`) pick its outputs. The fused node's own
`shape`/`dtype` are those of output 0.

Backends compile a program once (`Backend.compile_fused`), keyed by `program.key`:
the op sequence, attributes and dtypes, not the node ids, so the same update
(e.g. Adam's) for many parameters compiles once per shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import GraphError


@dataclass(frozen=True)
class Step:
    op: str  # an elementwise op of the registry
    args: tuple[int, ...]  # registers
    attrs: dict = field(hash=False, compare=False)
    shape: tuple[int, ...] = ()
    dtype: np.dtype = np.dtype("float32")
    source: str | None = None  # the user's file:line of the op this step replaced

    def attr_key(self) -> tuple:
        return attr_key(self.attrs)

    @classmethod
    def make(cls, op, args, attrs, shape, dtype, source=None) -> Step:
        """`Step(...)` for the passes' loops: the same object, built without the frozen
        dataclass's `__init__` (one `object.__setattr__` per field, a third of the cost
        of fusing a node)."""
        step = object.__new__(cls)
        step.__dict__.update(op=op, args=args, attrs=attrs, shape=shape, dtype=dtype,
                             source=source)
        return step


def attr_key(attrs: dict) -> tuple:
    """Attributes as a hashable, order-free key (arrays by dtype, shape and bytes)."""
    if not attrs:
        return ()
    return tuple(sorted((k, _hashable(v)) for k, v in attrs.items()))


def _dtype_str(d) -> str:
    return d.str if isinstance(d, np.dtype) else np.dtype(d).str


def _hashable(v):
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    return v


@dataclass(frozen=True)
class FusedProgram:
    input_types: tuple[tuple[tuple[int, ...], np.dtype], ...]
    steps: tuple[Step, ...]
    outputs: tuple[int, ...]

    @property
    def n_inputs(self) -> int:
        return len(self.input_types)

    @property
    def op_names(self) -> list[str]:
        return [s.op for s in self.steps]

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(s.source for s in self.steps if s.source))

    def register_type(self, r: int):
        if r < self.n_inputs:
            return self.input_types[r]
        step = self.steps[r - self.n_inputs]
        return step.shape, step.dtype

    @property
    def output_types(self):
        return [self.register_type(r) for r in self.outputs]

    def extent(self, r: int) -> tuple[int, ...]:
        """The shape register r's computation spans: its own, or for a full sum (a step
        the fusion pass may end a program with, see `is_full_sum`) its argument's."""
        step = self.steps[r - self.n_inputs] if r >= self.n_inputs else None
        if step is not None and is_full_sum(step):
            return tuple(self.register_type(step.args[0])[0])
        return tuple(self.register_type(r)[0])

    @property
    def key(self) -> tuple:
        """Identifies the computation (ops, attrs, shapes, dtypes) for kernel caches."""
        return self.key_by(lambda shape: shape)

    def key_by(self, shape_key) -> tuple:
        """`key` with every shape replaced by `shape_key(shape)` (passes that group
        programs of different shapes erase them)."""
        return (
            tuple([(shape_key(s), _dtype_str(d)) for s, d in self.input_types]),
            tuple([(s.op, s.args, attr_key(s.attrs), shape_key(s.shape), _dtype_str(s.dtype))
                   for s in self.steps]),
            self.outputs,
        )

    def infer(self, avals):
        """Check the arguments against the program's input types; give output 0's type."""
        if len(avals) != self.n_inputs:
            raise GraphError(f"fused program takes {self.n_inputs} arguments, got {len(avals)}")
        for i, (a, (shape, dtype)) in enumerate(zip(avals, self.input_types)):
            if tuple(a.shape) != tuple(shape) or np.dtype(a.dtype) != np.dtype(dtype):
                raise GraphError(f"fused argument {i} is {a.dtype}{list(a.shape)}, the program "
                                 f"expects {np.dtype(dtype)}{list(shape)}")
        return self.output_types[0]

    def canonical(self) -> tuple[FusedProgram, list[int]]:
        """The same computation with inputs and steps numbered in the order a depth-first
        walk from the outputs meets them, and the old input position of each new input.
        Two groups fused from the same expression then have equal programs whatever
        order their nodes were traced in (an Adam update of a weight and of a bias)."""
        n_in = self.n_inputs
        seen, inputs, order = self._postorder()
        inputs += [r for r in range(n_in) if r not in seen]  # unused inputs keep a place
        new = {r: i for i, r in enumerate(inputs)}
        new.update({r: len(inputs) + i for i, r in enumerate(order)})
        make = Step.make
        steps = tuple([make(s.op, tuple([new[a] for a in s.args]), s.attrs, s.shape, s.dtype,
                            s.source) for s in (self.steps[r - n_in] for r in order)])
        program = FusedProgram(tuple([self.input_types[r] for r in inputs]), steps,
                               tuple([new[o] for o in self.outputs]))
        return program, inputs

    def _postorder(self) -> tuple[set, list, list]:
        """(registers reached, inputs in the order met, steps in post-order) of a
        depth-first walk from the outputs, arguments left to right. Iterative: a long
        chain of steps would pass Python's recursion limit."""
        n_in, steps = self.n_inputs, self.steps
        seen: set[int] = set()
        inputs: list[int] = []
        order: list[int] = []
        for o in self.outputs:
            if o in seen:
                continue
            seen.add(o)
            if o < n_in:
                inputs.append(o)
                continue
            stack = [(o, iter(steps[o - n_in].args))]
            while stack:
                r, pending = stack[-1]
                for a in pending:
                    if a in seen:
                        continue
                    seen.add(a)
                    if a < n_in:
                        inputs.append(a)
                    else:
                        stack.append((a, iter(steps[a - n_in].args)))
                        break
                else:
                    stack.pop()
                    order.append(r)
        return seen, inputs, order

    def __str__(self) -> str:
        lines = [f"fused({', '.join(f'r{i}' for i in range(self.n_inputs))}):"]
        for i, s in enumerate(self.steps):
            attrs = ", ".join(f"{k}={v!r}" for k, v in s.attrs.items())
            args = ", ".join(f"r{a}" for a in s.args)
            call = ", ".join(x for x in (args, attrs) if x)
            lines.append(f"  r{self.n_inputs + i} = {s.op}({call})")
        lines.append(f"  return {', '.join(f'r{o}' for o in self.outputs)}")
        return "\n".join(lines)


def is_full_sum(step) -> bool:
    """A `sum` over every axis (no keepdims): the one non-elementwise step a program may
    hold, on backends that reduce as they compute (`Backend.fused_reductions`)."""
    return step.op == "sum" and not step.shape


def slice_program(program, registers) -> tuple:
    """(sub-program computing `registers`, positions of the inputs it reads)."""
    n = program.n_inputs
    needed, stack = set(), list(registers)
    while stack:
        r = stack.pop()
        if r not in needed:
            needed.add(r)
            if r >= n:
                stack.extend(program.steps[r - n].args)
    inputs = [r for r in range(n) if r in needed]
    steps = [r for r in range(n, n + len(program.steps)) if r in needed]
    renumber = {r: i for i, r in enumerate(inputs + steps)}
    new_steps = tuple(replace(program.steps[r - n],
                              args=tuple(renumber[a] for a in program.steps[r - n].args))
                      for r in steps)
    sub = FusedProgram(tuple(program.input_types[r] for r in inputs), new_steps,
                       tuple(renumber[r] for r in registers))
    return sub, tuple(inputs)


def split_by_output_shape(program) -> list[tuple]:
    """[(sub-program, input positions, output positions)], one per distinct output shape
    (a full sum's: its argument's, so that it stays with the steps it reduces)."""
    groups: dict[tuple, list[int]] = {}
    for j, r in enumerate(program.outputs):
        groups.setdefault(program.extent(r), []).append(j)
    if len(groups) == 1:
        return [(program, tuple(range(program.n_inputs)), tuple(range(len(program.outputs))))]
    parts = []
    for outs in groups.values():
        sub, ins = slice_program(program, [program.outputs[j] for j in outs])
        parts.append((sub, ins, tuple(outs)))
    return parts
