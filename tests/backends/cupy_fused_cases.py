"""Fused programs for the CUDA code-generator tests, built from real traced code.

`fuse_region` stands in for a fusion pass: it turns the live elementwise nodes of a traced
Graph (optionally of one phase) into one `FusedProgram` whose inputs are the values that
flow into the region, and computes those values with the reference interpreter, so every
case carries realistic inputs (a log never sees a negative probability).
`single_op_cases` makes one-step programs from each elementwise op's registered samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

import graphgrad as gg
from graphgrad.backends import get_backend
from graphgrad.backends.base import Backend
from graphgrad.ir.fused import FusedProgram, Step
from graphgrad.ops import REGISTRY

FLOATS = (np.dtype("float32"), np.dtype("float64"))
INT, BOOL = np.dtype("int64"), np.dtype("bool")


@dataclass
class Case:
    name: str
    program: FusedProgram
    inputs: list  # NumPy arrays matching program.input_types

    def expected(self) -> list[np.ndarray]:
        """The oracle: the program run step by step with the NumPy backend's kernels."""
        run = Backend.compile_fused(get_backend("numpy"), self.program)
        out = run(*self.inputs)
        return [np.asarray(o) for o in (out if isinstance(out, tuple) else (out,))]


def fuse_region(name: str, graph, args, phase: str | None = None) -> Case:
    """One FusedProgram of `graph`'s live elementwise nodes (of `phase`, if given)."""
    live = set(graph.outputs)
    for o in graph.outputs:
        live |= nx.ancestors(graph.nx, o)
    region = [n for n in graph.topo_order() if n in live
              and graph[n]["op"] in REGISTRY and REGISTRY[graph[n]["op"]].elementwise
              and (phase is None or graph[n]["phase"] == phase)]
    inside = set(region)
    external = list(dict.fromkeys(a for n in region for a in graph.args(n) if a not in inside))
    register = {a: i for i, a in enumerate(external)}
    steps = []
    for n in region:
        data = graph[n]
        register[n] = len(external) + len(steps)
        steps.append(Step(data["op"], tuple(register[a] for a in graph.args(n)),
                          dict(data["attrs"]), data["shape"], data["dtype"], data["source"]))
    results = [n for n in region if n in graph.outputs
               or any(u not in inside and u in live for u in graph.users(n))]
    program = FusedProgram(tuple((graph[a]["shape"], graph[a]["dtype"]) for a in external),
                           tuple(steps), tuple(register[n] for n in results))
    probe = graph.copy()
    probe.outputs = external
    inputs = [t.numpy() for t in gg.run_graph(probe, *args)]
    return Case(name, program, inputs)


def traced_case(name, fn, *arrays, grad: bool = False) -> Case:
    """The forward elementwise region of `fn`, or with `grad` its gradient's (backward)."""
    graph = gg.trace(fn, *arrays)
    if grad:
        return fuse_region(name, gg.differentiate(graph), arrays, phase="backward")
    return fuse_region(name, graph, arrays)


# ---------------------------------------------------------------------- single ops

class Aval:
    """What an op's shape/dtype rule reads of an operand."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)


INT_OPS = {"add", "sub", "mul", "neg", "abs", "sign", "relu", "maximum", "minimum", "where",
           "clamp", "eq", "ne", "lt", "le", "gt", "ge", "cast", "identity", "pow",
           "pow_scalar"}
BOOL_OPS = {"logical_not", "logical_and", "logical_or", "eq", "ne", "cast", "identity",
            "where", "add", "mul"}


def value_dtypes(op: str) -> list[np.dtype]:
    """The dtypes a one-op kernel is generated for: floats always, ints/bools where valid."""
    if op.startswith("logical_"):
        return [BOOL]
    return list(FLOATS) + ([INT] if op in INT_OPS else []) + ([BOOL] if op in BOOL_OPS
                                                              else [])


def _convert(a, dtype):
    a = np.asarray(a)
    if a.dtype.kind == "b" or dtype.kind == "f":
        return a.astype(dtype) if a.dtype.kind == "f" else a
    if dtype.kind == "b":
        return a > 0
    return np.round(a * 3).astype(dtype)


def single_op_program(op_name: str, arrays, attrs) -> FusedProgram:
    op = REGISTRY[op_name]
    shape, dtype = op.infer(*[Aval(a.shape, a.dtype) for a in arrays], **attrs)
    inputs = tuple((a.shape, a.dtype) for a in arrays)
    return FusedProgram(inputs, (Step(op_name, tuple(range(len(arrays))), dict(attrs),
                                      tuple(shape), np.dtype(dtype)),), (len(arrays),))


def _sample_call(op_name: str, sample, dtype):
    args, attrs = list(sample.args), dict(sample.kwargs)
    if op_name == "pow_scalar":
        if "exponent" not in attrs:
            attrs["exponent"] = args.pop()
        if dtype.kind != "f":
            attrs["exponent"] = abs(int(attrs["exponent"]))
    if op_name == "clamp":
        attrs = {"min": None, "max": None, **attrs}
        if dtype.kind != "f":
            attrs = {k: None if v is None else round(v * 3) for k, v in attrs.items()}
    arrays = [_convert(a, dtype) for a in args]
    if op_name == "pow" and dtype.kind != "f":
        arrays[1] = np.abs(arrays[1])  # NumPy refuses negative integer powers
    if op_name == "cast" and dtype.kind != "f":
        attrs["dtype"] = FLOATS[0]
    return arrays, attrs


def single_op_cases(max_samples: int = 2) -> list[Case]:
    """One-step programs for every elementwise op x dtype, from the op's own samples."""
    cases = []
    for name, op in sorted(REGISTRY.items()):
        if not op.elementwise:
            continue
        samples = sorted(op.samples(), key=lambda s: -len({np.shape(a) for a in s.args}))
        if name != "pow_scalar":  # its samples differ by exponent: each takes its own path
            samples = samples[:max_samples]
        for dtype in value_dtypes(name):
            for i, sample in enumerate(samples):
                arrays, attrs = _sample_call(name, sample, dtype)
                cases.append(Case(f"{name}-{dtype.name}-{i}",
                                  single_op_program(name, arrays, attrs), arrays))
    return cases


# ---------------------------------------------------------------------- fused groups

def _rng(seed=0):
    return np.random.default_rng(seed)


def adam_case(dtype) -> Case:
    rng = _rng(1)
    p, g = rng.normal(size=(16, 8)), rng.normal(size=(16, 8))
    m, v = rng.normal(size=(16, 8)) * 0.1, rng.uniform(0, 0.1, size=(16, 8))

    def adam(p, g, m, v):
        m2 = m * 0.9 + g * 0.1
        v2 = v * 0.999 + g * g * 0.001
        update = (m2 / (1 - 0.9 ** 3)) / ((v2 / (1 - 0.999 ** 3)).sqrt() + 1e-8)
        return p - 0.001 * update, m2, v2

    return traced_case(f"adam-{dtype}", adam, *[a.astype(dtype) for a in (p, g, m, v)])


def relu_backward_case(dtype) -> Case:
    rng = _rng(2)
    x, b = rng.normal(size=(32, 16)).astype(dtype), rng.normal(size=(16,)).astype(dtype)
    return traced_case(f"relu-mask-{dtype}", lambda x, b: (x + b).relu().sum(), x, b,
                       grad=True)


def bench_function(x):
    """The fusion benchmark's function: sum(tanh(0.5*x) * sigmoid(x) + 0.1*x*x)."""
    return (gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x).sum()


def bench_cases(dtype) -> list[Case]:
    x = _rng(3).normal(scale=3, size=(64, 33)).astype(dtype)
    return [traced_case(f"bench-fwd-{dtype}", bench_function, x),
            traced_case(f"bench-grad-{dtype}", bench_function, x, grad=True)]


def bce_cases(dtype) -> list[Case]:
    rng = _rng(4)
    z = rng.normal(scale=4, size=(40, 3)).astype(dtype)
    y = (rng.uniform(size=(40, 3)) > 0.5).astype(dtype)

    def bce(z, y):
        p = gg.sigmoid(z).clamp(1e-7, 1 - 1e-7)
        return -(y * gg.log(p) + (1 - y) * gg.log(1 - p)).mean()

    return [traced_case(f"bce-fwd-{dtype}", bce, z, y),
            traced_case(f"bce-grad-{dtype}", bce, z, y, grad=True)]


def small_output_case(dtype) -> Case:
    """Outputs of two shapes, (5,) and (3, 5): split in two kernels, or one standalone
    kernel storing the smaller output once per element."""
    rng = _rng(5)
    x, b = rng.normal(size=(3, 5)).astype(dtype), rng.normal(size=(5,)).astype(dtype)
    return traced_case(f"small-output-{dtype}", lambda x, b: (gg.sigmoid(b), x * gg.sigmoid(b)),
                       x, b)


def mixed_dtype_case() -> Case:
    rng = _rng(6)
    x, k = rng.normal(size=(6, 4)).astype(np.float32), rng.integers(-3, 4, size=(4,))

    def fn(x, k):
        kf = k.float()
        mask = gg.logical_and(x > 0, k >= 0)
        return gg.where(mask, x * kf, -x), (k * k).clamp(max=5), gg.maximum(x, kf).double()

    return traced_case("mixed-dtypes", fn, x, k)


def unrelated_shapes_case() -> Case:
    """Two SGD updates joined through a shared scalar, as the fusion pass may group them:
    their shapes (4, 3) and (5,) do not broadcast, so no single iteration space exists."""
    rng = _rng(7)
    w, gw = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    b, gb = rng.normal(size=(5,)), rng.normal(size=(5,))

    def sgd(w, gw, b, gb, lr):
        step = lr.float() * 0.5
        return w - step * gw, b - step * gb

    return traced_case("unrelated-shapes", sgd, *[a.astype(np.float32) for a in (w, gw, b, gb)],
                       np.array(0.1))


def group_cases() -> list[Case]:
    cases = [mixed_dtype_case(), unrelated_shapes_case()]
    for dtype in ("float32", "float64"):
        cases += [adam_case(dtype), relu_backward_case(dtype), small_output_case(dtype)]
        cases += bench_cases(dtype) + bce_cases(dtype)
    return cases
