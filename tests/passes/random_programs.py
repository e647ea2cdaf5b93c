"""Random expression programs for property tests of the passes (hypothesis strategies).

A program is a list of instructions over a growing list of float64 values; `build`
replays it with graphgrad ops, so the same program can be traced, differentiated and
run before and after any pass.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import graphgrad as gg

SHAPES = [(3, 4), (4,), (3, 1), (), (1, 4)]
UNARY = {
    "tanh": gg.tanh, "sigmoid": gg.sigmoid, "relu": gg.relu, "neg": lambda x: -x,
    "sin": gg.sin, "square": lambda x: x * x, "mul1": lambda x: x * 1.0,
    "add0": lambda x: x + 0.0, "negneg": lambda x: gg.neg(gg.neg(x)),
    "scale": lambda x: 0.5 * x + 2.0,
    "soft": lambda x: x / (1.0 + x * x), "exp_t": lambda x: gg.exp(gg.tanh(x)),
}
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "max": gg.maximum}


@st.composite
def programs(draw, max_len=8):
    n_inputs = draw(st.integers(1, 3))
    shapes = [draw(st.sampled_from(SHAPES)) for _ in range(n_inputs)]
    instrs = []
    for _ in range(draw(st.integers(1, max_len))):
        kind = draw(st.sampled_from(["unary", "unary", "binary", "binary", "reduce", "transpose",
                                     "reshape"]))
        name = draw(st.sampled_from(sorted(UNARY if kind == "unary" else BINARY)))
        instrs.append((kind, name, draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))))
    return shapes, instrs


def build(instrs):
    """A function of the inputs that applies `instrs` and returns a scalar loss."""
    def fn(*xs):
        values = list(xs)
        for kind, name, i, j in instrs:
            a, b = values[i % len(values)], values[j % len(values)]
            if kind == "unary":
                values.append(UNARY[name](a))
            elif kind == "binary":
                try:
                    gg.ops.common.broadcast_shapes(a.shape, b.shape)
                except gg.ShapeError:
                    b = b.sum()
                values.append(BINARY[name](a, b))
            elif kind == "reduce":
                values.append(a.sum(dim=0, keepdim=bool(j % 2)) if a.ndim else a * 2.0)
            elif kind == "transpose":
                values.append(a.T)
            else:
                values.append(a.reshape(-1))
        return sum((v.sum() for v in values[len(xs):]), start=gg.tensor(0.0, dtype="float64"))
    return fn


def inputs_for(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.5, 1.5, size=s) for s in shapes]
