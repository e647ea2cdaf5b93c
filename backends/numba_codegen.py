"""Fused elementwise programs as Numba source: one loop, every step in registers.

`source(program)` writes a small Python module holding two `@njit` functions over flat
C-contiguous arrays: `serial` and `parallel` (the same loop under `prange`, used above
`PARALLEL_MIN` elements). Inputs of one element (scalars, a learning rate) are read
once before the loop; every other input has the output's element count (the backend
broadcasts it first). Each step becomes one local assignment, with the user's
`file:line` of the op it replaced as a comment, so the module reads like the plan.

`load(program)` writes that module into a cache folder named by a hash of its text and
imports it, so Numba's `cache=True` finds its compiled code on disk and a second process
starts warm. float32 exp, tanh and sigmoid call numba_math.py's vectorizable versions (llvmlite has
no SVML). Only float32/float64/bool programs and int64 steps of `INT_OPS` are generated
(where Numba's integer arithmetic is NumPy's); anything else raises `UnsupportedFusion`
and the backend falls back to the NumPy fused function.

Numba's `fastmath` is limited to flags that keep IEEE results up to rounding:
`contract` (FMA), `afn` (approximate libm, within ulps) and `arcp` (x/y as x*(1/y)): a
rounding or two per op; never `nnan`/`ninf` (NaN and Inf must propagate as in NumPy),
`nsz` (the sign of zero) nor `reassoc` (it may cancel catastrophically).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .cuda_codegen import UnsupportedFusion

# Numba's disk cache is keyed by the generated file alone: the helpers' source goes into
# the generated text, so a change to numba_math.py gives new files, never stale code.
_MATH_DIGEST = hashlib.sha256(Path(__file__).with_name("numba_math.py").read_bytes()).hexdigest()
PARALLEL_MIN = 1 << 16  # below this many elements, threads cost more than they save
FASTMATH = ("contract",)
_DTYPES = {np.dtype("float32"): "f4", np.dtype("float64"): "f8", np.dtype("bool"): "b1",
           np.dtype("int64"): "i8"}
_NP_NAMES = {"f4": "float32", "f8": "float64", "b1": "bool_", "i8": "int64"}
#: ops whose int64 results Numba computes exactly as NumPy does (wrapping arithmetic,
#: comparisons, selection, casts); division, powers and math functions are NumPy's
INT_OPS = frozenset({"add", "sub", "mul", "neg", "abs", "sign", "maximum", "minimum", "where",
                     "eq", "ne", "lt", "le", "gt", "ge", "cast", "identity"})


#: the generated modules' import of numba_math's helpers (numba_plan.py's too)
MATH_IMPORT = ("from graphgrad.backends.numba_math import (  # noqa: F401\n"
               "    exp32, gelu_erf, gelu_erf_grad, gelu_tanh32, gelu_tanh64, "
               "gelu_tanh_grad32,\n    gelu_tanh_grad64, sigmoid32, tanh32)")


class _Operands:
    """A step's argument names, value dtype code and attributes, for the rules below."""

    def __init__(self, args, dtype, out, attrs):
        self.a, self.d, self.out, self.attrs = args, dtype, out, attrs

    def lit(self, value) -> str:
        """A typed constant: `float32(0.5)` keeps float32 arithmetic in float32."""
        return f"{_NP_NAMES[self.d]}({float(value)!r})"


def _float(name: str, fn: Callable[[_Operands], str]) -> Callable[[_Operands], str]:
    def rule(o: _Operands) -> str:
        if o.d == "b1":
            raise UnsupportedFusion(f"{name} of bool has no Numba fused kernel")
        return fn(o)
    return rule


#: float32 functions with a vectorizable version in numba_math.py (libm's are scalar)
VECTOR32 = {"exp": "exp32", "tanh": "tanh32", "sigmoid": "sigmoid32"}


def _math(name: str) -> Callable[[_Operands], str]:
    def rule(o: _Operands) -> str:
        if o.d == "f4" and name in VECTOR32:
            return f"{VECTOR32[name]}({o.a[0]})"
        return f"math.{name}({o.a[0]})"
    return _float(name, rule)


def _binary(symbol: str) -> Callable[[_Operands], str]:
    return _float(symbol, lambda o: f"({o.a[0]} {symbol} {o.a[1]})")


def _compare(symbol: str) -> Callable[[_Operands], str]:
    return lambda o: f"({o.a[0]} {symbol} {o.a[1]})"


def _pow_scalar(o: _Operands) -> str:
    x, e = o.a[0], o.attrs["exponent"]
    short = {1: x, 2: f"({x} * {x})", 3: f"({x} * {x} * {x})", 0.5: f"math.sqrt({x})",
             -1: f"({o.lit(1)} / {x})"}
    return short.get(e, f"({x} ** {o.lit(e)})")


def _sigmoid(o: _Operands) -> str:
    if o.d == "f4":
        return f"sigmoid32({o.a[0]})"
    # exp of a non-positive number only: never overflows (as the NumPy float64 kernel)
    x, one = o.a[0], o.lit(1)
    e = f"math.exp(-abs({x}))"
    return f"({one} / ({one} + {e}) if {x} >= 0 else {e} / ({one} + {e}))"


def _gelu(suffix: str) -> Callable[[_Operands], str]:
    """gelu ('') or gelu_backward ('_grad'): numba_math's helper of the step's
    approximation (the tanh form by float width, float32 on the vectorizable tanh32)."""
    def rule(o: _Operands) -> str:
        if o.attrs["approximate"] != "tanh":
            name = f"gelu_erf{suffix}"
        else:
            name = f"gelu_tanh{suffix}{'32' if o.d == 'f4' else '64'}"
        return f"{name}({', '.join(o.a)})"
    return rule


def _clamp(o: _Operands) -> str:
    expr, lo, hi = o.a[0], o.attrs.get("min"), o.attrs.get("max")
    if lo is not None:
        expr = _max(expr, o.lit(lo))
    if hi is not None:
        expr = _min(expr, o.lit(hi))
    return expr


def _max(a: str, b: str) -> str:
    return f"({a} if ({a} >= {b} or {a} != {a}) else {b})"  # NaN propagates (np.maximum)


def _min(a: str, b: str) -> str:
    return f"({a} if ({a} <= {b} or {a} != {a}) else {b})"


def _sign(o: _Operands) -> str:
    x = o.a[0]
    return f"({o.lit(1)} if {x} > 0 else ({o.lit(-1)} if {x} < 0 else {x}))"


def _cast(o: _Operands) -> str:
    return f"{_NP_NAMES[o.out]}({o.a[0]})"


#: op name -> rule(_Operands) -> Numba expression over register names.
EXPRESSIONS: dict[str, Callable[[_Operands], str]] = {
    "add": _binary("+"), "sub": _binary("-"), "mul": _binary("*"), "div": _binary("/"),
    "neg": _float("neg", lambda o: f"(-{o.a[0]})"), "pow": _binary("**"),
    "pow_scalar": _float("pow_scalar", _pow_scalar),
    "exp": _math("exp"), "log": _math("log"), "log1p": _math("log1p"),
    "sqrt": _math("sqrt"), "sin": _math("sin"), "cos": _math("cos"), "tanh": _math("tanh"),
    "erf": _math("erf"),
    "sigmoid": _float("sigmoid", _sigmoid), "gelu": _float("gelu", _gelu("")),
    "gelu_backward": _float("gelu_backward", _gelu("_grad")),
    "abs": _float("abs", lambda o: f"abs({o.a[0]})"),
    "sign": _float("sign", _sign),
    "relu": _float("relu", lambda o: f"({o.lit(0)} if {o.a[0]} < 0 else {o.a[0]})"),
    "relu_backward": _float("relu_backward",
                            lambda o: f"({o.a[0]} if {o.a[1]} > 0 else {o.lit(0)})"),
    "maximum": _float("maximum", lambda o: _max(*o.a)),
    "minimum": _float("minimum", lambda o: _min(*o.a)),
    "clamp": _float("clamp", _clamp),
    "where": lambda o: f"({o.a[1]} if {o.a[0]} else {o.a[2]})",
    "eq": _compare("=="), "ne": _compare("!="), "lt": _compare("<"), "le": _compare("<="),
    "gt": _compare(">"), "ge": _compare(">="),
    "logical_not": lambda o: f"(not {o.a[0]})",
    "logical_and": lambda o: f"({o.a[0]} and {o.a[1]})",
    "logical_or": lambda o: f"({o.a[0]} or {o.a[1]})",
    "cast": _cast, "identity": lambda o: o.a[0],
}


def _code(dtype) -> str:
    try:
        return _DTYPES[np.dtype(dtype)]
    except KeyError:
        raise UnsupportedFusion(f"{np.dtype(dtype)} values have no Numba fused kernel") \
            from None


def expression(program, step) -> str:
    """The Numba expression of one step, over register names `rK`."""
    rule = EXPRESSIONS.get(step.op)
    if rule is None:
        raise UnsupportedFusion(f"op {step.op!r} has no Numba expression", op=step.op)
    value = step.args[1] if step.op == "where" else step.args[0]
    if "i8" in (_code(program.register_type(value)[1]), _code(step.dtype)) \
            and step.op not in INT_OPS:
        raise UnsupportedFusion(f"{step.op} of int64 has no Numba fused kernel", op=step.op)
    operands = _Operands(tuple(f"r{a}" for a in step.args),
                         _code(program.register_type(value)[1]), _code(step.dtype),
                         dict(step.attrs))
    expr = rule(operands)
    # a bool-valued argument in arithmetic would widen: cast every result to its dtype
    if step.op in ("cast", "identity") or operands.out == "b1":
        return expr
    return f"{_NP_NAMES[operands.out]}({expr})"


def is_scalar(shape) -> bool:
    return int(np.prod(shape, dtype=np.int64)) == 1


def _loop(program, name: str, parallel: bool) -> list[str]:
    n_in, n_out = program.n_inputs, len(program.outputs)
    for _, d in program.input_types:
        _code(d)
    args = [f"x{i}" for i in range(n_in)] + [f"o{j}" for j in range(n_out)]
    # a set literal in sorted order: the source (and its cache file) must not depend on
    # the process's string hashing
    fastmath = "{" + ", ".join(repr(f) for f in sorted(FASTMATH)) + "}"
    # error_model="numpy": x/0 gives inf (as NumPy), and no zero check blocks vectorizing
    flags = f"fastmath={fastmath}, error_model='numpy', parallel={parallel}"
    lines = [f"@njit(cache=True, {flags})", f"def {name}(n, {', '.join(args)}):"]
    scalars = [i for i, (s, _) in enumerate(program.input_types) if is_scalar(s)]
    lines += [f"    r{i} = x{i}[0]" for i in scalars]
    lines.append(f"    for k in {'prange' if parallel else 'range'}(n):")
    lines += [f"        r{i} = x{i}[k]" for i in range(n_in) if i not in scalars]
    for i, step in enumerate(program.steps):
        where = f"  # {step.source}" if step.source else ""
        lines.append(f"        r{n_in + i} = {expression(program, step)}{where}")
    lines += [f"        o{j}[k] = r{r}" for j, r in enumerate(program.outputs)]
    return lines


def source(program) -> str:
    """The module text for `program` (see the module docstring)."""
    head = [f"# generated by graphgrad.backends.numba_codegen (numba_math {_MATH_DIGEST[:16]})"
            " from:",
            *[f"#   {line}" for line in str(program).splitlines()],
            "import math", "from numpy import float32, float64, bool_, int64  # noqa: F401",
            "from numba import njit, prange  # noqa: F401",
            MATH_IMPORT, ""]
    return "\n".join(head + _loop(program, "serial", False) + [""]
                     + _loop(program, "parallel", True)) + "\n"


def cache_dir() -> str:
    """Where generated modules (and Numba's compiled code beside them) live:
    $GRAPHGRAD_NUMBA_CACHE, else ~/.cache/graphgrad/numba."""
    default = os.path.join(os.path.expanduser("~"), ".cache", "graphgrad", "numba")
    return os.environ.get("GRAPHGRAD_NUMBA_CACHE", default)


def load(program):
    """The imported module for `program` (see `load_text`)."""
    return load_text(source(program), "gg_fused")


def load_text(text: str, prefix: str):
    """The module of generated source `text`, written to disk once per distinct source
    (its file never changes afterwards, so Numba's on-disk index stays valid) and
    imported under a name made of `prefix` and the text's hash."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    name = f"{prefix}_{digest}"
    module = sys.modules.get(f"graphgrad_numba_cache.{name}")
    if module is not None:
        return module
    folder = cache_dir()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".py")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # atomic: a concurrent process never reads half a file
    spec = importlib.util.spec_from_file_location(f"graphgrad_numba_cache.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[spec.name] = module
    module.source = text
    return module
