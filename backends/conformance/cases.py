"""Test cases drawn from the op registry (like PyTorch's OpInfo samples), and the oracle.

Every registered op brings its own `samples()`: NumPy float64 inputs covering
broadcasting, 0-d and empty shapes. A `Case` is one sample in one dtype and one
*variant* of its inputs: as given (`contiguous`), laid out non-contiguously
(`strided`), scaled to large or tiny magnitudes, or seeded with NaN and +-Inf
(`nonfinite`). The oracle is the NumPy backend run in float64 on the very values the
backend under test received (rounded to the tested dtype first), then rounded to the
tested dtype: a float32 overflow to Inf is then expected, not an error.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from dataclasses import dataclass

import numpy as np

from graphgrad import dtypes
from graphgrad.backends.numpy_backend import NumpyBackend
from graphgrad.ops import REGISTRY

FLOATS = ("float32", "float64")
#: Ops that take int64 (and bool) operands as such, not only after the public function
#: promotes them to float. The suite runs their samples with integer/bool inputs too.
INT_OPS = frozenset({
    "add", "sub", "mul", "neg", "abs", "sign", "maximum", "minimum", "eq", "ne", "lt",
    "le", "gt", "ge", "where", "sum", "max", "min", "argmax", "argmin", "reshape",
    "permute", "broadcast_to", "concat", "index", "identity", "matmul", "cast", "gather",
})
BOOL_OPS = frozenset({"eq", "ne", "where", "reshape", "permute", "broadcast_to", "concat",
                      "index", "identity", "cast"})
#: Ops whose samples stay meaningful when scaled by 1e15 / 1e-15: no range reduction of
#: huge angles, no approximation that cancels for tiny arguments, no leaving the domain
#: (log1p's samples reach -0.5).
LARGE_OPS = frozenset({
    "add", "sub", "mul", "div", "neg", "abs", "relu", "sign", "maximum", "minimum", "where",
    "clamp", "sqrt", "exp", "log", "tanh", "sigmoid", "erf", "eq", "ne", "lt", "le",
    "gt", "ge", "sum", "max", "min", "argmax", "argmin", "softmax", "log_softmax", "matmul",
    "reshape", "permute", "broadcast_to", "concat", "index", "gather", "identity",
})
TINY_OPS = LARGE_OPS - {"erf"} | {"log1p"}
SCALES = {"large": 1e15, "tiny": 1e-15}
#: Ops checked with NaN/+-Inf among their inputs (IEEE/NumPy propagation semantics).
NONFINITE_OPS = frozenset({
    "add", "sub", "mul", "div", "neg", "abs", "relu", "sign", "maximum", "minimum", "where",
    "clamp", "sqrt", "exp", "log", "log1p", "sin", "cos", "tanh", "sigmoid", "erf", "eq", "ne",
    "lt", "le", "gt", "ge", "sum", "max", "min", "identity",
})
#: Ops whose float error grows with the sum of the magnitudes of their terms.
ACCUMULATING_OPS = frozenset({"sum", "matmul", "gather_backward", "index_backward", "conv",
                              "conv_input_grad", "conv_weight_grad", "sum_pool", "sum_pool_grad"})

TOLERANCE = {"float32": (1e-4, 1e-5), "float64": (1e-7, 1e-9)}  # (rtol, atol)

#: The oracle: the NumPy backend (run in float64 by `Case.reference`).
REFERENCE = NumpyBackend()
#: Comma-separated op names or fnmatch patterns: only these ops' cases are generated
#: (`graphgrad conformance NAME --ops exp,sum*`; much faster than -k, which filters
#: after every case is collected).
OPS_ENV = "GRAPHGRAD_CONFORMANCE_OPS"


def selected(ops) -> list[str]:
    """The ops among `ops` that $GRAPHGRAD_CONFORMANCE_OPS selects (all when unset)."""
    patterns = [p.strip() for p in os.environ.get(OPS_ENV, "").split(",") if p.strip()]
    if not patterns:
        return sorted(ops)
    return sorted(op for op in ops if any(fnmatch.fnmatchcase(op, p) for p in patterns))


@functools.cache
def samples_of(op: str) -> tuple:
    found = REGISTRY[op].samples
    return tuple(found()) if found is not None else ()


def sampled_ops() -> list[str]:
    return selected(name for name, op in REGISTRY.items()
                    if not op.random and op.samples is not None and samples_of(name))


def random_ops() -> list[str]:
    return selected(name for name, op in REGISTRY.items() if op.random)


@dataclass(frozen=True)
class Case:
    """One call of one op: sample `index` of `op`, in `dtype`, with inputs in `variant`."""

    op: str
    index: int
    dtype: str  # "float32", "float64", "int64", "bool", or "native" (inputs as sampled)
    variant: str = "contiguous"

    def __str__(self) -> str:
        return f"{self.op}-s{self.index}-{self.dtype}-{self.variant}"

    @property
    def sample(self):
        return samples_of(self.op)[self.index]

    @property
    def dtypes_used(self) -> set[str]:
        """Every dtype the backend sees in this case (inputs and result)."""
        used = {str(np.asarray(a).dtype) for a in self.arrays()}
        return used | {self.dtype} - {"native"}

    def arrays(self) -> list[np.ndarray]:
        """The inputs the backend gets, as NumPy arrays (possibly non-contiguous views)."""
        return [_variant(_in_dtype(np.asarray(a), self.dtype), self.variant)
                for a in self.sample.args]

    def kwargs(self) -> dict:
        return dict(self.sample.kwargs)

    def reference(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(expected result rounded to the tested dtype, magnitude scale for tolerances)."""
        wide = [_widen(a) for a in self.arrays()]
        kernel = REFERENCE.kernels[self.op]
        with np.errstate(all="ignore"):
            exact = np.asarray(kernel(*wide, **self.kwargs()))
            magnitude = None
            if self.op in ACCUMULATING_OPS and all(a.dtype.kind == "f" for a in wide[:1]):
                magnitude = np.abs(np.asarray(kernel(*[np.abs(a) if a.dtype.kind == "f"
                                                       else a for a in wide], **self.kwargs())))
        return exact, magnitude

    def tolerance(self) -> tuple[float, float]:
        if self.dtype not in FLOATS:
            return 0.0, 0.0
        rtol, atol = TOLERANCE[self.dtype]
        return rtol, atol * min(1.0, SCALES.get(self.variant, 1.0))


def _float_args(sample) -> bool:
    return any(np.asarray(a).dtype.kind == "f" for a in sample.args)


def _in_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    if a.dtype.kind != "f" or dtype == "native":
        return a
    if dtype == "int64":
        return np.round(a * 2).astype(np.int64)
    if dtype == "bool":
        return a > 0
    return a.astype(dtype)


def _widen(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64) if a.dtype.kind == "f" else np.ascontiguousarray(a)


def _variant(a: np.ndarray, variant: str) -> np.ndarray:
    if variant == "strided":
        if a.ndim >= 2:
            return np.swapaxes(np.ascontiguousarray(np.swapaxes(a, 0, -1)), 0, -1)
        if a.ndim == 1:
            return np.repeat(a, 2)[::2]
        return a
    if variant in SCALES and a.dtype.kind == "f":
        return (a.astype(np.float64) * SCALES[variant]).astype(a.dtype)
    if variant == "nonfinite" and a.dtype.kind == "f" and a.size >= 3:
        a = a.copy()
        a.flat[:3] = [np.nan, np.inf, -np.inf]
        return a
    return a


def _variants(op: str, sample, dtype: str) -> list[str]:
    out = ["contiguous"]
    if any(np.asarray(a).size > 1 and np.asarray(a).ndim >= 1 for a in sample.args):
        out.append("strided")
    if dtype in FLOATS:
        out += [v for v, ops in (("large", LARGE_OPS), ("tiny", TINY_OPS)) if op in ops]
        if op in NONFINITE_OPS and any(np.asarray(a).size >= 3 for a in sample.args):
            out.append("nonfinite")
    return out


def dtypes_for(op: str, sample) -> list[str]:
    """The dtypes the suite runs this sample in ("native": as sampled, no float input)."""
    if not _float_args(sample):
        return ["native"]
    out = [str(np.dtype(d)) for d in sample.dtypes]
    if op in INT_OPS and "int64" not in out:
        out.append("int64")
    if op in BOOL_OPS and "bool" not in out:
        out.append("bool")
    return out


def forward_cases() -> list[Case]:
    return [Case(op, i, dt, v)
            for op in sampled_ops()
            for i, s in enumerate(samples_of(op))
            for dt in dtypes_for(op, s)
            for v in _variants(op, s, dt)]


def vjp_cases() -> list[Case]:
    return [Case(op, i, "float64")
            for op in sampled_ops() if REGISTRY[op].differentiable and REGISTRY[op].vjp
            for i, s in enumerate(samples_of(op)) if s.diff]


def fusable_cases() -> list[Case]:
    """One case per elementwise op and float dtype: its first sample with a float input."""
    cases = []
    for op in sampled_ops():
        if not REGISTRY[op].elementwise:
            continue
        for i, s in enumerate(samples_of(op)):
            if _float_args(s):
                cases += [Case(op, i, str(np.dtype(d))) for d in s.dtypes]
                break
    return cases


# ---------------------------------------------------------------------- comparing

def compare(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
            magnitude: np.ndarray | None = None) -> tuple[float, float, str]:
    """(worst error / tolerance, worst absolute error, description of the worst element).

    `expected` is rounded to `actual`'s dtype first. NaN must meet NaN and an
    infinity the same infinity; integers and bools must be equal.
    """
    if actual.size == 0:
        return 0.0, 0.0, ""
    expected = _round_to(expected, actual.dtype)
    a64, e64 = actual.astype(np.float64), expected.astype(np.float64)
    scale = np.abs(e64) if magnitude is None else np.maximum(np.abs(e64), magnitude)
    with np.errstate(all="ignore"):
        err = np.abs(a64 - e64)
        ratio = err / (atol + rtol * scale)
    same = (a64 == e64) | (np.isnan(a64) & np.isnan(e64))
    ratio = np.where(same, 0.0, np.where(np.isnan(ratio), np.inf, ratio))
    flat = int(np.argmax(ratio))
    idx = np.unravel_index(flat, actual.shape) if actual.ndim else ()
    where = (f"at index {tuple(int(i) for i in idx)}: got {actual.flat[flat]!r}, "
             f"expected {expected.flat[flat]!r}")
    abs_err = float(np.where(same, 0.0, err).max()) if np.isfinite(ratio).all() else np.inf
    return float(ratio.max()), abs_err, where


def _round_to(expected: np.ndarray, dtype: np.dtype) -> np.ndarray:
    with np.errstate(all="ignore"):
        return expected.astype(dtype) if expected.dtype != dtype and dtype.kind in "fb" \
            else expected


# ---------------------------------------------------------------------- declarations

def matching_declaration(declared: dict[str, str], op: str, test_name: str) -> str | None:
    """The reason a backend's `expected_failures` gives for this test, if any.

    A key matches an op name (every test of that op), a test name such as
    `test_forward[erf-s0-float32-tiny]`, or an fnmatch pattern over test names.
    """
    for key, reason in declared.items():
        if key == op or key == test_name or fnmatch.fnmatchcase(test_name, key):
            return reason
    return None


def short(dtype) -> str:
    return dtypes.short(np.dtype(dtype))
