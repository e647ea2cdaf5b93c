"""Making tensors: from data, filled, ranges, and random (seeded by `gg.manual_seed`).

Deterministic constructors build a NumPy array and hand it to the backend. Random
constructors are ops (`rand`, `randn`, `randint`, `randperm`) so that inside
`gg.compile` they become nodes that draw fresh numbers at every call, in the same
order as eager code would.
"""

from __future__ import annotations

import math
import operator
import os

import numpy as np

from . import dtypes
from .arrays import as_array
from .backends.registry import default_backend, get_backend, seed_all
from .errors import AllocationError, ArgumentError, ArgumentTypeError, ShapeError
from .ir import tracing
from .ops.registry import get_op
from .source import user_source
from .tensor import Tensor


def check_allocation(shape: tuple[int, ...], dtype, what: str) -> None:
    """Refuse a tensor larger than this machine's memory before NumPy tries, so the user
    reads the op, the shape and the byte count instead of a bare MemoryError."""
    itemsize = np.dtype(dtype).itemsize
    nbytes = math.prod(shape) * itemsize
    limit = physical_memory()
    if limit is not None and nbytes > limit:
        raise AllocationError(
            f"{what}: a tensor of shape {tuple(shape)} and dtype {np.dtype(dtype)} needs "
            f"{nbytes} bytes ({_human(nbytes)}), more than this machine's memory "
            f"({_human(limit)})", op=what, source=user_source())


def out_of_memory(shape, dtype, what: str) -> AllocationError:
    """The error for a NumPy MemoryError raised while allocating `shape`."""
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    return AllocationError(f"{what}: could not allocate a tensor of shape {tuple(shape)} and "
                           f"dtype {np.dtype(dtype)} ({nbytes} bytes, {_human(nbytes)})",
                           op=what, source=user_source())


def physical_memory() -> int | None:
    """Bytes of RAM on this machine (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _human(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"


def _backend(backend):
    """The backend a `device=` argument names: None (the default), a backend's name, a
    device string (`"cpu"`, `"cuda"`), a `gg.device`, or a backend instance."""
    return default_backend() if backend is None else get_backend(backend)


def from_numpy(arr: np.ndarray, backend=None) -> Tensor:
    b = _backend(backend)
    return Tensor._wrap(b.from_numpy(as_array(arr)), b)


def tensor(data, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A new tensor holding a copy of `data` (floats become float32, ints int64)."""
    b = _backend(device)
    if isinstance(data, Tensor) and data._value is None:
        t = data.astype(dtype) if dtype is not None else data.clone()
        return t.detach()
    t = Tensor._wrap(b.from_numpy(as_array(data, dtype)), b)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(x, dtype=None, like: Tensor | None = None) -> Tensor:
    """`x` as a Tensor; Python scalars become constants (nodes, while tracing)."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    if dtype is None:
        dtype = dtypes.scalar_dtype(x) if np.ndim(x) == 0 and not isinstance(x, np.ndarray) \
            else None
    arr = as_array(x, dtype)
    backend = like._backend if like is not None else default_backend()
    tracer = tracing.current
    if tracer is not None:
        n = tracer.add("const", (), {"value": arr}, arr.shape, arr.dtype)
        return Tensor._symbolic(tracer, n, arr.shape, arr.dtype, backend)
    return Tensor._wrap(backend.from_numpy(arr), backend)


def _shape(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    try:
        shape = tuple(operator.index(s) for s in size)
    except TypeError:
        raise ShapeError(f"a tensor's size must be ints, got {tuple(size)!r}",
                         source=user_source()) from None
    if any(s < 0 for s in shape):
        raise ShapeError(f"a tensor's size must not be negative, got {shape}",
                         source=user_source())
    return shape


def full(size, fill_value, dtype=None, requires_grad=False, backend=None) -> Tensor:
    return _filled(size, fill_value, dtype, requires_grad, backend, "full")


def _filled(size, fill_value, dtype, requires_grad, backend, what: str) -> Tensor:
    size = _shape((size,))
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.scalar_dtype(fill_value)
    check_allocation(size, dt, what)
    try:
        arr = np.full(size, fill_value, dtype=dt)
    except MemoryError:
        raise out_of_memory(size, dt, what) from None
    return tensor(arr, requires_grad=requires_grad, device=backend)


def zeros(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _filled(_shape(size), 0, dtype or dtypes.default_float, requires_grad, device,
                   "zeros")


def ones(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _filled(_shape(size), 1, dtype or dtypes.default_float, requires_grad, device,
                   "ones")


def empty(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _filled(_shape(size), 0, dtype or dtypes.default_float, requires_grad, device,
                   "empty")


def zeros_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return full(t.shape, 0, dtype or t.dtype, requires_grad, t._backend)


def ones_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return full(t.shape, 1, dtype or t.dtype, requires_grad, t._backend)


def full_like(t: Tensor, fill_value, dtype=None, requires_grad=False) -> Tensor:
    return full(t.shape, fill_value, dtype or t.dtype, requires_grad, t._backend)


def arange(start, end=None, step=1, dtype=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ShapeError("arange: step must not be zero", op="arange", source=user_source())
    if (end - start) * step < 0:
        raise ShapeError(f"arange: the bounds start={start}, end={end} are inconsistent "
                            f"with the sign of step={step}", op="arange", source=user_source())
    count = max(0, math.ceil((end - start) / step))
    check_allocation((count,), np.float64, "arange")
    arr = np.arange(start, end, step)
    return tensor(arr, dtype=dtype or (dtypes.default_float if arr.dtype.kind == "f"
                                       else dtypes.int64), requires_grad=requires_grad)


def linspace(start, end, steps: int, dtype=None, requires_grad=False) -> Tensor:
    check_allocation(_shape((steps,)), np.float64, "linspace")
    return tensor(np.linspace(start, end, steps), dtype=dtype or dtypes.default_float,
                  requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype=None, requires_grad=False) -> Tensor:
    shape = _shape((n, n if m is None else m))
    check_allocation(shape, np.float64, "eye")
    return tensor(np.eye(*shape), dtype=dtype or dtypes.default_float,
                  requires_grad=requires_grad)


# ---------------------------------------------------------------------- random

def manual_seed(seed: int) -> None:
    """Seed every backend's generator, so eager and compiled runs draw the same numbers.

    Like `torch.manual_seed`, the seed is anything `int()` accepts, and a negative seed
    is taken modulo 2**64; a seed outside [-2**63, 2**64) is refused.
    """
    try:
        value = int(seed)
    except (TypeError, ValueError) as e:
        cls = ArgumentTypeError if isinstance(e, TypeError) else ArgumentError
        raise cls(f"manual_seed: the seed must be an integer, got {seed!r:.40} "
                  f"({type(seed).__name__})", op="manual_seed", source=user_source()) from None
    if not -2**63 <= value < 2**64:
        raise ArgumentError(f"manual_seed: the seed {value} is outside [-2**63, 2**64) "
                            "(overflow)", op="manual_seed", source=user_source())
    seed_all(value % 2**64)


def _random(op_name, shape, dtype, requires_grad=False, **attrs) -> Tensor:
    check_allocation(shape, dtype, op_name)
    t = get_op(op_name)(shape=shape, dtype=dtype, **attrs)
    if requires_grad:
        t.requires_grad_(True)
    return t


def rand(*size, dtype=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1)."""
    return _random("rand", _shape(size), dtypes.as_dtype(dtype or dtypes.default_float),
                   requires_grad)


def randn(*size, dtype=None, requires_grad=False) -> Tensor:
    """Standard normal samples."""
    return _random("randn", _shape(size), dtypes.as_dtype(dtype or dtypes.default_float),
                   requires_grad)


def randint(low, high=None, size=(), dtype=None) -> Tensor:
    """Integers uniform in [low, high)."""
    if high is None:
        low, high = 0, low
    return _random("randint", tuple(size), dtypes.as_dtype(dtype or dtypes.int64),
                   low=int(low), high=int(high))


def randperm(n: int, dtype=None) -> Tensor:
    """A random permutation of 0..n-1."""
    try:
        n = operator.index(n)
    except TypeError:
        raise ArgumentTypeError(f"randperm: n must be an int, got {type(n).__name__}",
                                op="randperm", source=user_source()) from None
    if n < 0:
        raise ArgumentError(f"randperm: n must be non-negative, got {n}", op="randperm",
                            source=user_source())
    return _random("randperm", (n,), dtypes.as_dtype(dtype or dtypes.int64))


def rand_like(t: Tensor) -> Tensor:
    return rand(*t.shape, dtype=t.dtype)


def randn_like(t: Tensor) -> Tensor:
    return randn(*t.shape, dtype=t.dtype)
