"""`FusedProgram.canonical` and `Step.make`, the fast paths the passes build programs with.

Oracle: a recursive depth-first walk written here from the docstring's definition
(inputs and steps numbered in the order a walk from the outputs meets them) on random
programs; NumPy float64 evaluating a 3,000-step chain directly; and `Step(...)` itself
for `Step.make` (equal, same hash, same fields).
"""

import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import graphgrad as gg
from graphgrad.ir.fused import FusedProgram, Step

F64 = np.dtype("float64")


def reference_canonical(program):
    """The definition, recursively: fine for small programs."""
    n_in, seen, inputs, order = program.n_inputs, set(), [], []

    def visit(r):
        if r in seen:
            return
        seen.add(r)
        if r < n_in:
            inputs.append(r)
            return
        for a in program.steps[r - n_in].args:
            visit(a)
        order.append(r)

    for o in program.outputs:
        visit(o)
    inputs += [r for r in range(n_in) if r not in seen]
    new = {r: i for i, r in enumerate(inputs)}
    new.update({r: len(inputs) + i for i, r in enumerate(order)})
    steps = tuple(Step(s.op, tuple(new[a] for a in s.args), s.attrs, s.shape, s.dtype, s.source)
                  for s in (program.steps[r - n_in] for r in order))
    return FusedProgram(tuple(program.input_types[r] for r in inputs), steps,
                        tuple(new[o] for o in program.outputs)), inputs


@st.composite
def programs(draw):
    n_in = draw(st.integers(1, 4))
    steps = []
    for i in range(draw(st.integers(1, 12))):
        live = n_in + i
        op = draw(st.sampled_from(["neg", "exp", "add", "mul"]))
        arity = 1 if op in ("neg", "exp") else 2
        args = tuple(draw(st.integers(0, live - 1)) for _ in range(arity))
        steps.append(Step(op, args, {}, (3,), F64, f"model.py:{i}"))
    total = n_in + len(steps)
    outputs = tuple(draw(st.lists(st.integers(n_in, total - 1), min_size=1, max_size=3,
                                  unique=True)))
    return FusedProgram((((3,), F64),) * n_in, tuple(steps), outputs)


@settings(max_examples=60, deadline=None)
@given(programs())
def test_canonical_numbers_registers_as_the_recursive_definition_does(program):
    got, got_inputs = program.canonical()
    want, want_inputs = reference_canonical(program)
    assert got == want and got.key == want.key
    assert got_inputs == want_inputs
    assert [s.source for s in got.steps] == [s.source for s in want.steps]


def test_a_chain_longer_than_the_recursion_limit_canonicalizes():
    n = sys.getrecursionlimit() + 2000
    steps = (Step("neg", (0,), {}, (3,), F64),) + tuple(
        Step("neg", (i,), {}, (3,), F64) for i in range(1, n))
    program = FusedProgram((((3,), F64),), steps, (n,))
    canonical, inputs = program.canonical()
    assert inputs == [0] and canonical == program  # already in walk order
    x = np.array([1.0, -2.0, 3.0])
    out = gg.backends.get_backend("numpy").compile_fused(canonical)(x)
    np.testing.assert_array_equal(out, x * (-1.0) ** n)


def test_step_make_is_the_same_step_as_the_constructor():
    args = ("mul", (0, 1), {"alpha": 2}, (4, 5), F64, "train.py:3")
    made, built = Step.make(*args), Step(*args)
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert type(made) is Step
    assert (made.op, made.args, made.attrs, made.shape, made.dtype, made.source) == args
    assert Step.make("neg", (0,), {}, (), F64).source is None
