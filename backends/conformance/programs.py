"""Fused elementwise programs for the fused-vs-unfused check.

`single_op_program` wraps one elementwise op (from its sample) in a short chain with
two outputs; `CHAINS` are longer groups of the kinds the fusion pass builds: an Adam
update, a broadcasting activation chain, a masked clamp, and 0-d and empty variants.
"""

from __future__ import annotations

import numpy as np

from graphgrad.backends.conformance.checks import Aval
from graphgrad.ir.fused import FusedProgram, Step
from graphgrad.ops import REGISTRY


class ProgramBuilder:
    """Appends steps, inferring each step's shape and dtype with the op's own rule."""

    def __init__(self, input_types):
        self.input_types = tuple((tuple(s), np.dtype(d)) for s, d in input_types)
        self.steps: list[Step] = []

    def type_of(self, r: int):
        n = len(self.input_types)
        return self.input_types[r] if r < n else (self.steps[r - n].shape, self.steps[r - n].dtype)

    def add(self, op: str, *args: int, **attrs) -> int:
        avals = [Aval(*self.type_of(a)) for a in args]
        shape, dtype = REGISTRY[op].infer(*avals, **attrs)
        self.steps.append(Step(op, tuple(args), dict(attrs), tuple(shape), np.dtype(dtype)))
        return len(self.input_types) + len(self.steps) - 1

    def build(self, *outputs: int) -> FusedProgram:
        return FusedProgram(self.input_types, tuple(self.steps), tuple(outputs))


def single_op_program(op: str, arrays, kwargs) -> FusedProgram:
    """op(inputs) followed by a step that uses its result; outputs (last, op's result)."""
    b = ProgramBuilder([(a.shape, a.dtype) for a in arrays])
    r = b.add(op, *range(len(arrays)), **kwargs)
    shape, dtype = b.type_of(r)
    if dtype.kind == "f":
        same = [i for i, a in enumerate(arrays) if a.dtype == dtype]
        last = b.add("add", b.add("mul", r, r), same[0] if same else r)
    elif dtype == np.bool_ and len(arrays) >= 2 and arrays[0].dtype == arrays[1].dtype:
        last = b.add("where", r, 0, 1)
    else:
        last = b.add("logical_not", b.add("cast", r, dtype=np.dtype(bool)))
    return b.build(last, r)


def _adam(dtype):
    shapes = [(3, 4)] * 4 + [()] * 6
    b = ProgramBuilder([(s, dtype) for s in shapes])
    p, g, m, v, b1, one_b1, b2, one_b2, lr, eps = range(10)
    m2 = b.add("add", b.add("mul", b1, m), b.add("mul", one_b1, g))
    v2 = b.add("add", b.add("mul", b2, v), b.add("mul", one_b2, b.add("mul", g, g)))
    step = b.add("mul", lr, b.add("div", m2, b.add("add", b.add("sqrt", v2), eps)))
    p2 = b.add("sub", p, step)
    values = [_rand((3, 4), 1), _rand((3, 4), 2), _rand((3, 4), 3), _rand((3, 4), 4, 0.0, 1.0),
              0.9, 0.1, 0.999, 0.001, 1e-3, 1e-8]
    return b.build(p2, m2, v2), values


def _activation(dtype, rows=3):
    b = ProgramBuilder([((rows, 4), dtype), ((4,), dtype)])
    z = b.add("mul", 0, 1)
    gate = b.add("mul", b.add("tanh", z), b.add("sigmoid", z))
    out = b.add("add", b.add("exp", b.add("neg", b.add("abs", gate))), b.add("erf", z))
    return b.build(out), [_rand((rows, 4), 5), _rand((4,), 6)]


def _masked(dtype):
    b = ProgramBuilder([((2, 3), dtype), ((), dtype)])
    keep = b.add("gt", 0, 1)
    x = b.add("where", keep, b.add("relu", 0), b.add("log1p", b.add("abs", 0)))
    y = b.add("pow_scalar", b.add("clamp", x, min=-0.5, max=0.75), exponent=3)
    return b.build(y, keep), [_rand((2, 3), 7), 0.1]


def _scalars(dtype):
    b = ProgramBuilder([((), dtype), ((), dtype)])
    out = b.add("maximum", b.add("log", b.add("add", 0, 1)), b.add("cos", 1))
    return b.build(out), [1.5, 0.25]


def _reuse(dtype):
    """Output 0 is ready before input 0's last read: out=(input 0, ...) must wait."""
    b = ProgramBuilder([((3, 4), dtype), ((3, 4), dtype), ((), dtype)])
    first = b.add("mul", 0, 2)
    second = b.add("mul", b.add("add", first, 0), 1)
    return b.build(first, second), [_rand((3, 4), 8), _rand((3, 4), 9), 0.5]


def _hyperparameter(dtype):
    """An SGD update: the learning rate comes in as float64 (a Python float in a plan)."""
    b = ProgramBuilder([((3, 4), dtype), ((3, 4), dtype), ((), np.dtype("float64"))])
    lr = b.add("cast", 2, dtype=np.dtype(dtype))
    return b.build(b.add("sub", 0, b.add("mul", 1, lr))), [_rand((3, 4), 10),
                                                          _rand((3, 4), 11), 0.1]


def full_sums(dtype, n=5000):
    """A loss-like program for backends with `fused_reductions`: terms and their sum, and
    the sum of an array that other steps still read (outputs: the sums and a gradient)."""
    b = ProgramBuilder([((n,), dtype), ((), dtype)])
    t = b.add("tanh", b.add("mul", 0, 1))
    terms = b.add("add", b.add("mul", t, t), 0)
    grad = b.add("mul", b.add("sub", 1, b.add("mul", t, t)), 1)
    return b.build(b.add("sum", terms, axis=None, keepdims=False), grad,
                   b.add("sum", t, axis=(0,), keepdims=False)), [_rand((n,), 12), 0.5]


CHAINS = {
    "adam": _adam,
    "activation": _activation,
    "activation_empty": lambda dtype: _activation(dtype, rows=0),
    "masked": _masked,
    "scalars": _scalars,
    "reuse": _reuse,
    "hyperparameter": _hyperparameter,
}


def chain(name: str, dtype) -> tuple[FusedProgram, list[np.ndarray]]:
    program, values = CHAINS[name](np.dtype(dtype))
    arrays = [np.asarray(v, dtype=t[1]).reshape(t[0]) for v, t in zip(values,
                                                                       program.input_types)]
    return program, arrays


def _rand(shape, seed, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)
