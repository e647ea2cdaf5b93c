"""CUDA source for fused elementwise programs: pure Python, usable and testable without CuPy.

Each step of a `FusedProgram` becomes one C statement, `const T rK = <expr>;`, its
expression taken from `EXPRESSIONS`, a table of scalar C expressions per op (one entry
for every elementwise op of the registry). The statements form the body of a kernel,
emitted in two forms that share the body verbatim:

- `kernel_parts(program)`: the parameters, body and preamble of a `cupy.ElementwiseKernel`,
  what the CuPy backend launches. CuPy broadcasts the inputs, walks any strides and
  handles several outputs; the body never mentions shapes, so one compiled kernel serves
  every shape: it is keyed by `signature(program)` (ops, attributes, dtypes), which is what
  a training loop with the same Adam update for every parameter wants.
- `cuda_standalone.raw_source(program)`: a standalone translation unit, an
  `extern "C" __global__` function over contiguous arrays with a grid-stride loop and
  broadcasting through strides baked in at generation time (keyed by `program.key`,
  shapes included). It needs no CuPy: tests compile it with `nvcc`, and
  `host_entry=True` adds a serial CPU entry point so the very same element code runs,
  and is checked against NumPy, on a machine without a GPU.

ElementwiseKernel gives every output the broadcast shape of all arguments, while a fused
group may have outputs of several shapes (a bias next to its activation, or the fusion
pass merging the updates of differently shaped parameters through a shared scalar).
`split_by_output_shape` (ir/fused.py) cuts such a program into one sub-program per
output shape, each recomputing the (elementwise, hence cheap) steps it shares with the
others.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from graphgrad.errors import BackendError

#: NumPy dtype -> (C type, CuPy ElementwiseKernel type name).
C_TYPES = {
    np.dtype("float32"): ("float", "float32"),
    np.dtype("float64"): ("double", "float64"),
    np.dtype("int64"): ("long long", "int64"),
    np.dtype("bool"): ("bool", "bool"),
}


class UnsupportedFusion(BackendError):
    """A program holds an op or dtype the generator has no C expression for."""


def c_type(dtype) -> str:
    try:
        return C_TYPES[np.dtype(dtype)][0]
    except KeyError:
        raise UnsupportedFusion(f"no CUDA type for dtype {np.dtype(dtype)}") from None


def literal(value, dtype) -> str:
    """A C literal of `value` converted to `dtype` the way NumPy's `dtype.type(value)` does."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return "true" if value else "false"
    if dt.kind in "iu":
        return f"{int(value)}LL"
    v = float(value)
    if math.isnan(v):
        text = "(0.0 / 0.0)"
    elif math.isinf(v):
        text = "(1.0 / 0.0)" if v > 0 else "(-1.0 / 0.0)"
    else:
        text = repr(v)  # shortest round-trip text of the double; the cast rounds like NumPy
    return f"(({c_type(dt)}){text})"


# ---------------------------------------------------------------------- expression table

@dataclass(frozen=True)
class Operands:
    """What an expression rule sees: argument registers, operand/result dtypes, attrs."""

    a: tuple[str, ...]
    dtype: np.dtype  # dtype of the (value) operands
    out: np.dtype
    attrs: dict

    @property
    def t(self) -> str:
        return c_type(self.dtype)

    @property
    def f(self) -> str:
        """C math-function suffix: expf for float32, exp for float64."""
        return "f" if self.dtype == np.float32 else ""

    def lit(self, value) -> str:
        return literal(value, self.dtype)


def _math(name: str) -> Callable[[Operands], str]:
    return _float_only(name, lambda o: f"{name}{o.f}({o.a[0]})")


def _binary(symbol: str) -> Callable[[Operands], str]:
    return lambda o: f"({o.a[0]} {symbol} {o.a[1]})"


def _abs(o: Operands) -> str:
    if o.dtype.kind == "f":
        return f"fabs{o.f}({o.a[0]})"
    if o.dtype.kind == "b":
        return o.a[0]
    return f"({o.a[0]} < 0 ? -{o.a[0]} : {o.a[0]})"


def _pow(o: Operands) -> str:
    if o.dtype.kind == "f":
        return f"pow{o.f}({o.a[0]}, {o.a[1]})"
    return f"(({o.t})gg_ipow({o.a[0]}, {o.a[1]}))"


def _pow_scalar(o: Operands) -> str:
    x, e = o.a[0], o.attrs["exponent"]
    if o.dtype.kind != "f":
        return f"(({o.t})gg_ipow({x}, {int(e)}LL))"
    # Exact shortcuts for the common exponents; pow() for the rest.
    short = {1: x, 2: f"({x} * {x})", 3: f"({x} * {x} * {x})", 0.5: f"sqrt{o.f}({x})",
             -1: f"({o.lit(1)} / {x})"}
    return short.get(e, f"pow{o.f}({x}, {o.lit(e)})")


def _clamp(o: Operands) -> str:
    # Comparisons in this order let NaN through, as NumPy's clip does.
    expr = o.a[0]
    lo, hi = o.attrs.get("min"), o.attrs.get("max")
    if lo is not None:
        expr = f"gg_max({expr}, {o.lit(lo)})"
    if hi is not None:
        expr = f"gg_min({expr}, {o.lit(hi)})"
    return expr


def _sign(o: Operands) -> str:
    x = o.a[0]
    if o.dtype.kind == "b":
        return x
    return f"({x} > 0 ? {o.lit(1)} : ({x} < 0 ? {o.lit(-1)} : {x}))"


def _relu(o: Operands) -> str:
    # `x < 0 ? 0 : x` keeps NaN, like np.maximum(x, 0).
    return f"({o.a[0]} < 0 ? {o.lit(0)} : {o.a[0]})"


def _gelu(suffix: str) -> Callable[[Operands], str]:
    """gelu ('') or gelu_backward ('_grad'): the helper of the step's approximation."""
    def rule(o: Operands) -> str:
        form = "tanh" if o.attrs["approximate"] == "tanh" else "erf"
        return f"gg_gelu_{form}{suffix}({', '.join(o.a)})"
    return rule


def _float_only(name: str, fn: Callable[[Operands], str]) -> Callable[[Operands], str]:
    def rule(o: Operands) -> str:
        if o.dtype.kind != "f":
            raise UnsupportedFusion(f"{name} of {o.dtype} has no fused kernel (it takes floats)")
        return fn(o)
    return rule


#: op name -> rule(Operands) -> C expression. Arguments are register names, so a rule may
#: mention one several times without evaluating anything twice.
EXPRESSIONS: dict[str, Callable[[Operands], str]] = {
    "add": _binary("+"), "sub": _binary("-"), "mul": _binary("*"),
    "div": _float_only("div", _binary("/")),
    "neg": lambda o: f"(-{o.a[0]})",
    "pow": _pow, "pow_scalar": _pow_scalar,
    "exp": _math("exp"), "log": _math("log"), "log1p": _math("log1p"), "sqrt": _math("sqrt"),
    "sin": _math("sin"), "cos": _math("cos"), "tanh": _math("tanh"), "erf": _math("erf"),
    "sigmoid": _float_only("sigmoid", lambda o: f"gg_sigmoid({o.a[0]})"),
    "gelu": _float_only("gelu", _gelu("")),
    "gelu_backward": _float_only("gelu_backward", _gelu("_grad")),
    "abs": _abs, "sign": _sign, "relu": _relu,
    "relu_backward": lambda o: f"({o.a[1]} > 0 ? {o.a[0]} : {o.lit(0)})",
    "maximum": lambda o: f"gg_max({o.a[0]}, {o.a[1]})",
    "minimum": lambda o: f"gg_min({o.a[0]}, {o.a[1]})",
    "where": lambda o: f"({o.a[0]} ? {o.a[1]} : {o.a[2]})",
    "clamp": _clamp,
    "eq": _binary("=="), "ne": _binary("!="), "lt": _binary("<"), "le": _binary("<="),
    "gt": _binary(">"), "ge": _binary(">="),
    "logical_not": lambda o: f"(!{o.a[0]})",
    "logical_and": _binary("&&"), "logical_or": _binary("||"),
    "cast": lambda o: f"static_cast<{c_type(o.out)}>({o.a[0]})",
    "identity": lambda o: o.a[0],
}

#: Helper functions a body may call, emitted into the preamble only when used.
#: `__host__ __device__` so the same code compiles for the GPU and for host-side checks.
HELPERS = {
    "gg_sigmoid": """\
__host__ __device__ inline float gg_sigmoid(float x) {
  const float e = expf(-fabsf(x));  // exp of a non-positive number: never overflows
  return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}
__host__ __device__ inline double gg_sigmoid(double x) {
  const double e = exp(-fabs(x));
  return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}""",
    "gg_gelu_tanh": """\
template <typename T> __host__ __device__ inline T gg_gelu_tanh(T x) {
  const T u = (T)0.7978845608028654 * (x + (T)0.044715 * x * x * x);
  return (T)0.5 * x * ((T)1 + tanh(u));
}""",
    "gg_gelu_tanh_grad": """\
template <typename T> __host__ __device__ inline T gg_gelu_tanh_grad(T g, T x) {
  const T t = tanh((T)0.7978845608028654 * (x + (T)0.044715 * x * x * x));
  const T du = (T)0.7978845608028654 * ((T)1 + (T)(3 * 0.044715) * x * x);
  return g * ((T)0.5 * ((T)1 + t) + (T)0.5 * x * ((T)1 - t * t) * du);
}""",
    "gg_gelu_erf": """\
template <typename T> __host__ __device__ inline T gg_gelu_erf(T x) {
  return (T)0.5 * x * ((T)1 + erf(x * (T)0.7071067811865476));
}""",
    "gg_gelu_erf_grad": """\
template <typename T> __host__ __device__ inline T gg_gelu_erf_grad(T g, T x) {
  const T phi = exp((T)-0.5 * x * x) * (T)0.3989422804014327;
  return g * ((T)0.5 * ((T)1 + erf(x * (T)0.7071067811865476)) + x * phi);
}""",
    "gg_max": """\
template <typename T> __host__ __device__ inline T gg_max(T a, T b) {
  return (a >= b || a != a) ? a : b;  // NaN propagates, as in np.maximum
}""",
    "gg_min": """\
template <typename T> __host__ __device__ inline T gg_min(T a, T b) {
  return (a <= b || a != a) ? a : b;  // NaN propagates, as in np.minimum
}""",
    "gg_ipow": """\
__host__ __device__ inline long long gg_ipow(long long b, long long e) {
  if (e < 0) return b == 1 ? 1 : (b == -1 ? ((e & 1) ? -1 : 1) : 0);
  long long r = 1;
  while (e) { if (e & 1) r *= b; b *= b; e >>= 1; }
  return r;
}""",
}


def expression(op: str, args, arg_dtypes, out_dtype, attrs) -> str:
    """The C expression computing `op` on register names `args`."""
    try:
        rule = EXPRESSIONS[op]
    except KeyError:
        raise UnsupportedFusion(f"op {op!r} has no CUDA expression for fused kernels",
                                op=op) from None
    value_dtype = np.dtype(arg_dtypes[1] if op == "where" else arg_dtypes[0])
    return rule(Operands(tuple(args), value_dtype, np.dtype(out_dtype), dict(attrs)))


# ---------------------------------------------------------------------- kernel bodies

def signature(program) -> tuple:
    """The program less its shapes: what an ElementwiseKernel depends on, and its cache key."""
    return (tuple(np.dtype(d).str for _, d in program.input_types),
            tuple((s.op, s.args, s.attr_key(), np.dtype(s.dtype).str) for s in program.steps),
            tuple(program.outputs))


def kernel_name(prefix: str, ops, key) -> str:
    """A C identifier that reads in a profiler (first ops) and is unique (digest of `key`)."""
    digest = hashlib.sha1(repr(key).encode()).hexdigest()[:12]
    return "_".join([prefix, *list(dict.fromkeys(ops))[:4], digest])


def body(program) -> str:
    """One `const T rK = expr;` per step, then `oJ = rK;` per output."""
    n = program.n_inputs
    lines = []
    for i, step in enumerate(program.steps):
        arg_dtypes = [program.register_type(a)[1] for a in step.args]
        expr = expression(step.op, [f"r{a}" for a in step.args], arg_dtypes, step.dtype,
                          step.attrs)
        lines.append(f"const {c_type(step.dtype)} r{n + i} = {expr};")
    # Outputs that are input registers first: CuPy may bind inputs by reference to memory
    # an output overwrites (in-place reuse); step registers are already private copies.
    outs = sorted(enumerate(program.outputs), key=lambda jr: jr[1] >= n)
    lines += [f"o{j} = r{r};" for j, r in outs]
    return "\n".join(lines)


def helpers_used(code: str) -> tuple[str, ...]:
    return tuple(name for name in HELPERS if name + "(" in code)


def preamble(helpers) -> str:
    return "\n".join(HELPERS[h] for h in helpers)


@dataclass(frozen=True)
class KernelParts:
    """The arguments of `cupy.ElementwiseKernel(in_params, out_params, body, name, preamble=)`."""

    name: str
    in_params: str
    out_params: str
    body: str
    preamble: str


_parts_cache: dict[tuple, KernelParts] = {}


def kernel_parts(program) -> KernelParts:
    """The ElementwiseKernel form of `program`, generated once per `signature(program)`."""
    sig = signature(program)
    parts = _parts_cache.get(sig)
    if parts is None:
        code = body(program)
        ins = ", ".join(f"{C_TYPES[np.dtype(d)][1]} r{i}"
                        for i, (_, d) in enumerate(program.input_types))
        outs = ", ".join(f"{C_TYPES[np.dtype(d)][1]} o{j}"
                         for j, (_, d) in enumerate(program.output_types))
        parts = KernelParts(kernel_name("gg_fused", program.op_names, sig), ins, outs, code,
                            preamble(helpers_used(code)))
        _parts_cache[sig] = parts
    return parts
