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
from .errors import AllocationError, ArgumentError, ArgumentTypeError, DtypeError, ShapeError
from .generator import check as check_generator
from .ir import tracing
from .ops.registry import get_op
from .source import user_source
from .tensor import Constant, Tensor


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
    """A tensor around `arr` itself where the backend holds NumPy arrays of its dtype, as
    torch.from_numpy shares memory: a write into `arr` shows in the tensor, and an
    in-place op on the tensor writes into `arr`. Else a copy converted to the backend."""
    b = _backend(backend)
    _note_array(arr)
    if isinstance(arr, np.ndarray) and arr.dtype in dtypes.SUPPORTED and \
            arr.dtype.name not in b.unsupported_dtypes and \
            b.takes_arrays_of(get_backend("numpy")):
        t = Tensor._wrap(arr, b)
        t._exposed = True  # in-place ops write into arr, as PyTorch's shared memory
        return t
    return Tensor._wrap(b.from_numpy(as_array(arr)), b)


def tensor(data, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A new tensor holding a copy of `data` (floats become float32, ints int64)."""
    b = _backend(device)
    if isinstance(data, Tensor) and data._value is None:
        t = data.astype(dtype) if dtype is not None else data.clone()
        return t.detach()
    _note_array(data)
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
    _note_array(x)
    return _constant(as_array(x, dtype), like, Tensor)


def _note_array(x) -> None:
    """While tracing, a NumPy array made a tensor of becomes a constant of the plan: the
    tracer notes it, so one held in a global or an object is guarded (engine/guards.py)."""
    if tracing.current is not None and isinstance(x, np.ndarray):
        tracing.current.note_array(x)


def engine_constant(x, like: Tensor, dtype=None) -> Constant:
    """A number or array the engine puts into a composite (a `mean`'s 1/n, diagonal's
    index arrays), in `dtype` (default: like's): an op that saves it may be
    differentiated twice, as PyTorch's fused op saves nothing."""
    return _constant(as_array(x, like.dtype if dtype is None else dtype), like, Constant)


def _constant(arr: np.ndarray, like: Tensor | None, cls: type) -> Tensor:
    backend = like._backend if like is not None else default_backend()
    tracer = tracing.current
    if tracer is not None:
        n = tracer.add("const", (), {"value": arr}, arr.shape, arr.dtype)
        return cls._symbolic(tracer, n, arr.shape, arr.dtype, backend)
    return cls._wrap(backend.from_numpy(arr), backend)


def _size_kw(size: tuple, kw: dict) -> tuple:
    """`zeros(2, 3)`, `zeros((2, 3))` or PyTorch's keyword form `zeros(size=(2, 3))`."""
    if kw:
        if set(kw) != {"size"} or size:
            raise ArgumentTypeError(f"unexpected keyword argument(s) {sorted(kw)} (the size "
                                    "goes positionally or as size=)", source=user_source())
        return (kw["size"],)
    return size


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


def full(size, fill_value, dtype=None, requires_grad=False, backend=None, *,
         device=None) -> Tensor:
    return _filled(size, fill_value, dtype, requires_grad, device or backend, "full")


def _filled(size, fill_value, dtype, requires_grad, backend, what: str) -> Tensor:
    size = _shape((size,))
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.scalar_dtype(fill_value)
    check_allocation(size, dt, what)
    try:
        arr = np.full(size, fill_value, dtype=dt)
    except MemoryError:
        raise out_of_memory(size, dt, what) from None
    return tensor(arr, requires_grad=requires_grad, device=backend)


def zeros(*size, dtype=None, requires_grad=False, device=None, **kw) -> Tensor:
    return _filled(_shape(_size_kw(size, kw)), 0, dtype or dtypes.default_float,
                   requires_grad, device, "zeros")


def ones(*size, dtype=None, requires_grad=False, device=None, **kw) -> Tensor:
    return _filled(_shape(_size_kw(size, kw)), 1, dtype or dtypes.default_float,
                   requires_grad, device, "ones")


def empty(*size, dtype=None, requires_grad=False, device=None, **kw) -> Tensor:
    return _filled(_shape(_size_kw(size, kw)), 0, dtype or dtypes.default_float,
                   requires_grad, device, "empty")


def zeros_like(t: Tensor, dtype=None, requires_grad=False, *, device=None) -> Tensor:
    return full(t.shape, 0, dtype or t.dtype, requires_grad, device or t._backend)


def ones_like(t: Tensor, dtype=None, requires_grad=False, *, device=None) -> Tensor:
    return full(t.shape, 1, dtype or t.dtype, requires_grad, device or t._backend)


def full_like(t: Tensor, fill_value, dtype=None, requires_grad=False, *,
              device=None) -> Tensor:
    return full(t.shape, fill_value, dtype or t.dtype, requires_grad, device or t._backend)


def empty_like(t: Tensor, dtype=None, requires_grad=False, *, device=None) -> Tensor:
    return zeros_like(t, dtype, requires_grad, device=device)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, *,
           device=None) -> Tensor:
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
                                       else dtypes.int64), requires_grad=requires_grad,
                  device=device)


def linspace(start, end, steps: int, dtype=None, requires_grad=False, *,
             device=None) -> Tensor:
    check_allocation(_shape((steps,)), np.float64, "linspace")
    return tensor(np.linspace(start, end, steps), dtype=dtype or dtypes.default_float,
                  requires_grad=requires_grad, device=device)


def logspace(start, end, steps: int, base: float = 10.0, dtype=None, requires_grad=False, *,
             device=None) -> Tensor:
    """`steps` numbers from base ** start to base ** end, evenly spaced in the exponent."""
    check_allocation(_shape((steps,)), np.float64, "logspace")
    return tensor(np.float64(base) ** np.linspace(start, end, steps),
                  dtype=dtype or dtypes.default_float, requires_grad=requires_grad,
                  device=device)


def eye(n: int, m: int | None = None, dtype=None, requires_grad=False, *,
        device=None) -> Tensor:
    shape = _shape((n, n if m is None else m))
    check_allocation(shape, np.float64, "eye")
    return tensor(np.eye(*shape), dtype=dtype or dtypes.default_float,
                  requires_grad=requires_grad, device=device)


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


def _random(op_name, shape, dtype, requires_grad=False, generator=None, device=None,
            **attrs) -> Tensor:
    """A draw from the backend's generator (an op, also inside a compiled step), or,
    with `generator`, from that Generator on the host (eagerly)."""
    check_allocation(shape, dtype, op_name)
    if check_generator(generator) is not None:
        t = tensor(generator.draw(op_name, shape, dtype, **attrs), dtype=dtype, device=device)
    else:
        t = get_op(op_name)(shape=shape, dtype=dtype, **attrs)
        if device is not None and _backend(device) is not t._backend:
            t = t.to(device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False,
          **kw) -> Tensor:
    """Uniform samples in [0, 1)."""
    size = _size_kw(size, kw)
    return _random("rand", _shape(size), _float_dtype(dtype, "rand"), requires_grad,
                   generator, device)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False,
          **kw) -> Tensor:
    """Standard normal samples."""
    size = _size_kw(size, kw)
    return _random("randn", _shape(size), _float_dtype(dtype, "randn"), requires_grad,
                   generator, device)


def randint(low=None, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad=False) -> Tensor:
    """Integers uniform in [low, high): PyTorch's `randint(high, size)`,
    `randint(low, high, size)` and keywords (`randint(high=5, size=(2,))`)."""
    if isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    elif low is None:
        low = 0
    if high is None or size is None:
        raise ArgumentTypeError("randint() needs high and size (randint(high, size) or "
                                "randint(low, high, size))", source=user_source())
    return _random("randint", _shape((size,)), dtypes.as_dtype(dtype or dtypes.int64),
                   requires_grad, generator, device, low=int(low), high=int(high))


def randperm(n: int, *, generator=None, dtype=None, device=None,
             requires_grad=False) -> Tensor:
    """A random permutation of 0..n-1."""
    try:
        n = operator.index(n)
    except TypeError:
        raise ArgumentTypeError(f"randperm: n must be an int, got {type(n).__name__}",
                                op="randperm", source=user_source()) from None
    if n < 0:
        raise ArgumentError(f"randperm: n must be non-negative, got {n}", op="randperm",
                            source=user_source())
    return _random("randperm", (n,), dtypes.as_dtype(dtype or dtypes.int64), requires_grad,
                   generator, device)


def _float_dtype(dtype, op: str):
    dtype = dtypes.as_dtype(dtype or dtypes.default_float)
    if dtype.kind != "f":
        raise DtypeError(f"{op}: draws floating-point numbers, got dtype {dtype}", op=op,
                         source=user_source())
    return dtype


def rand_like(t: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return rand(*t.shape, dtype=dtype or t.dtype, device=device or t._backend.name,
                requires_grad=requires_grad)


def randn_like(t: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return randn(*t.shape, dtype=dtype or t.dtype, device=device or t._backend.name,
                 requires_grad=requires_grad)


def randint_like(t: Tensor, low, high=None, *, dtype=None, device=None,
                 requires_grad=False) -> Tensor:
    return randint(low, high, t.shape, dtype=dtype or t.dtype,
                   device=device or t._backend.name, requires_grad=requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad=False) -> Tensor:
    """Samples of N(mean, std^2): `normal(0.0, 1.0, size=(3, 4))`, or with tensor `mean`
    and/or `std` (broadcast together) and no `size`."""
    if size is None:
        shape = np.broadcast_shapes(*(tuple(getattr(v, "shape", ())) for v in (mean, std)))
    else:
        shape = _shape((size,))
    out = randn(*shape, generator=generator, dtype=dtype, device=device) * std + mean
    return out.detach().requires_grad_(True) if requires_grad else out


def bernoulli(input: Tensor, p=None, *, generator=None) -> Tensor:
    """1 with probability `input` (elementwise; or `p` where given), else 0, in
    `input`'s dtype."""
    probs = input if p is None else p
    u = rand(*input.shape, generator=generator, dtype=dtypes.float64,
             device=input._backend.name)
    return (u < probs).astype(input.dtype)
