"""The dtypes graphgrad speaks, and PyTorch's type-promotion rule.

float32, float64, int64 and bool, plus int32, int16 and uint8 kept as given (images
arrive as bytes; PyTorch keeps them too).

Tensors carry NumPy dtypes. Promotion follows PyTorch rather than NumPy: a Python
float never widens a float32 tensor, an int tensor meets a float scalar as float32,
and 0-d tensors only count when they raise the *category* (bool < int < float).
"""

from __future__ import annotations

import numpy as np

from .errors import DtypeError
from .source import user_source

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")
int32 = np.dtype("int32")
int16 = np.dtype("int16")
uint8 = np.dtype("uint8")

SUPPORTED = (float32, float64, int64, int32, int16, uint8, bool_)
FLOATS = (float32, float64)
default_float = float32
default_int = int64

_ALIASES = {
    "float": float32, "float32": float32, "f32": float32,
    "double": float64, "float64": float64, "f64": float64,
    "long": int64, "int64": int64, "int": int64, "i64": int64,
    "int32": int32, "i32": int32, "int16": int16, "short": int16, "i16": int16,
    "uint8": uint8, "u8": uint8,
    "bool": bool_,
    float: float32, int: int64, bool: bool_,
}
_SHORT = {float32: "f32", float64: "f64", int64: "i64", int32: "i32", int16: "i16",
          uint8: "u8", bool_: "bool"}


def as_dtype(dtype) -> np.dtype:
    """Normalize a user's dtype (string, Python type, NumPy dtype) to a supported np.dtype."""
    if isinstance(dtype, np.dtype) and dtype in SUPPORTED:
        return dtype
    if isinstance(dtype, (str, type)) and dtype in _ALIASES:
        return _ALIASES[dtype]
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt in SUPPORTED:
        return dt
    raise DtypeError(
        f"unsupported dtype {dtype!r}; graphgrad supports float32, float64, int64, int32, "
        "int16, uint8 and bool",
        source=user_source(),
    )


def names_a_dtype(name: str) -> bool:
    """Whether NumPy reads `name` as a dtype (supported by graphgrad or not)."""
    try:
        np.dtype(name)
    except TypeError:
        return False
    return True


def from_numpy_dtype(dt: np.dtype) -> np.dtype:
    """Map any NumPy dtype onto the supported one of its kind (int8 -> int64, f16 -> f32)."""
    if dt in SUPPORTED:
        return dt
    kind = dt.kind
    if kind == "b":
        return bool_
    if kind in "iu":
        return int64
    if kind == "f":
        return float64 if dt.itemsize > 8 else float32
    raise DtypeError(f"cannot make a tensor from NumPy dtype {dt}")


def short(dt: np.dtype) -> str:
    """`f32`, `i64`, ... as printed in the IR."""
    return _SHORT.get(dt, str(dt))


def category(dt: np.dtype) -> int:
    """0 for bool, 1 for integers, 2 for floats."""
    return 2 if dt.kind == "f" else 1 if dt.kind in "iu" else 0


def accumulation(dtype) -> tuple[np.dtype, np.dtype | None]:
    """(the dtype a sum with `dtype=` runs in, the dtype its result is cast to after, or
    None): a narrower integer type sums in int64 and wraps at the end, the same numbers
    as summing in that type (as torch's `sum(dtype=torch.uint8)`)."""
    dt = as_dtype(dtype)
    return (int64, dt) if dt.kind in "bui" and dt != int64 else (dt, None)


def is_float(dt: np.dtype) -> bool:
    return dt.kind == "f"


def scalar_dtype(value) -> np.dtype:
    """The dtype a bare Python scalar gets when it becomes a tensor on its own."""
    if getattr(value, "weak", False):
        return float32
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int64
    return float32


def _promote_pair(a: np.dtype, b: np.dtype) -> np.dtype:
    """The higher category wins outright (int64 + float32 is float32, not NumPy's float64)."""
    if category(a) != category(b):
        return a if category(a) > category(b) else b
    return np.promote_types(a, b)


def result_type(operands) -> np.dtype:
    """PyTorch's promotion over a mix of tensors (anything with .dtype/.ndim) and scalars
(Python's and NumPy's).

    A *weak* tensor (`.weak` true: a Python number read at run time by a compiled plan)
    promotes like the Python number it stands for."""
    dims, zero_dims, scalar = None, None, None
    for x in operands:
        # a NumPy scalar (np.float64(0.5)) promotes like the Python number it holds
        dt = None if getattr(x, "weak", False) or isinstance(x, np.generic) \
            else getattr(x, "dtype", None)
        if dt is None:
            cand = scalar_dtype(x)
            if scalar is None or category(cand) > category(scalar):
                scalar = cand
        elif x.ndim:
            dims = dt if dims is None else _promote_pair(dims, dt)
        else:
            zero_dims = dt if zero_dims is None else _promote_pair(zero_dims, dt)
    result = dims
    for cand in (zero_dims, scalar):
        if cand is not None and (result is None or category(cand) > category(result)):
            result = cand
    return result
