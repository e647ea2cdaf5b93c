"""Small GEMMs on one BLAS thread.

OpenBLAS splits a GEMM over its thread pool once it holds more than ~262k
multiply-adds. For the GEMMs of small models (a 64x128 batch times a 128x128 weight:
1M) the second thread costs more than it saves: it must be woken and joined, and on a
busy machine it waits for a core, so a 30 µs GEMM can take milliseconds (measured on
a loaded 2-core machine: 64x128x128 at 23-129 µs on one thread, 0.5-6.3 ms on two).
Below `SMALL_GEMM` multiply-adds, `gemm_kernel` runs the GEMM with the pool pinned to
one thread, restoring the count right after (two cheap calls into OpenBLAS).

The switch needs threadpoolctl to find NumPy's OpenBLAS; without it, or with another
BLAS, GEMMs run as NumPy runs them.
"""

from __future__ import annotations

import ctypes
import functools
import math
from pathlib import Path
from types import FunctionType

import numpy as np

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - optional
    ThreadpoolController = None

SMALL_GEMM = 1 << 22  # multiply-adds; ~1/1000 of the wide MLP's largest GEMM

_switch = None  # (get, set) of NumPy's OpenBLAS thread count, found on first use


def _openblas(owner: str = "numpy"):
    """ctypes functions (get, set) of the OpenBLAS that `owner` links (NumPy's, or
    SciPy's, which Numba's np.dot calls), or ()."""
    if ThreadpoolController is None:
        return ()
    try:
        libs = [lib for lib in ThreadpoolController().lib_controllers
                if lib.internal_api == "openblas"]
        libs.sort(key=lambda lib: owner not in lib.filepath)  # the owner's own first
        for lib in libs:
            get = lib._get_symbol("openblas_get_num_threads")
            put = lib._get_symbol("openblas_set_num_threads")
            if get is not None and put is not None:
                return get, put
    except Exception:  # noqa: BLE001 - an unknown library layout: no switching
        return ()
    return ()


def _numpy_openblas_paths() -> list[str]:
    """Files that may be NumPy's own OpenBLAS: threadpoolctl's view of the loaded
    libraries, else the `numpy.libs` folder a NumPy wheel ships it in."""
    paths = []
    if ThreadpoolController is not None:
        try:
            paths = [lib.filepath for lib in ThreadpoolController().lib_controllers
                     if lib.internal_api == "openblas" and "numpy" in lib.filepath]
        except Exception:  # noqa: BLE001 - an unknown library layout
            paths = []
    folder = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    return paths + sorted(str(p) for p in folder.glob("*openblas*"))


@functools.cache
def numpy_cblas_gemm() -> dict[str, int]:
    """Addresses of `cblas_sgemm` and `cblas_dgemm` of NumPy's own OpenBLAS, built with
    64-bit integers (the `64_` symbols of NumPy's wheels), by dtype name; {} where NumPy
    uses another BLAS. The Numba backend calls these, so that a process has one BLAS
    thread pool: Numba's np.dot calls SciPy's OpenBLAS, whose threads, spinning after
    each GEMM, took the cores from NumPy's (measured on the wide MLP, 2 cores, a Numba
    step alternating with NumPy GEMMs: both ran 1.45x slower)."""
    for path in _numpy_openblas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_cblas_", "cblas_"):
            found = {dtype: getattr(lib, f"{prefix}{letter}gemm64_", None)
                     for dtype, letter in (("float32", "s"), ("float64", "d"))}
            if all(found.values()):
                return {dtype: ctypes.cast(fn, ctypes.c_void_p).value
                        for dtype, fn in found.items()}
    return {}


def scipy_switch():
    """(get, set) of the thread count of SciPy's OpenBLAS (Numba's BLAS), or ()."""
    return _openblas("scipy.libs")  # NumPy's wheel also bundles a "libscipy_openblas"


def switch():
    global _switch
    if _switch is None:
        _switch = _openblas()
    return _switch


def one_thread_dot(get, put):
    """np.dot with OpenBLAS's pool pinned to one thread for the call."""
    dot = np.dot

    def kernel(a, b):
        n = get()
        if n <= 1:
            return dot(a, b)
        put(1)
        try:
            return dot(a, b)
        finally:
            put(n)
    kernel.small_gemm = True  # pinned_plan pins a whole plan of these once instead
    return kernel


def gemm_kernel(shape_a, shape_b):
    """The kernel for a 2-d float GEMM of these shapes: np.dot, on one BLAS thread when
    the product is small (see the module docstring)."""
    (m, k), (_, n) = shape_a, shape_b
    if m * k * n >= SMALL_GEMM or not switch():
        return np.dot
    return one_thread_dot(*switch())


def matmul(a, b):
    """np.matmul as the kernel table's entry (eager calls, plans without a
    specialization): 2-d GEMMs below SMALL_GEMM run on one BLAS thread, like the
    lowered ones."""
    if a.ndim == 2 and b.ndim == 2 and a.shape[0] * a.shape[1] * b.shape[1] < SMALL_GEMM \
            and switch():
        get, put = switch()
        n = get()
        if n > 1:
            put(1)
            try:
                return np.matmul(a, b)
            finally:
                put(n)
    if b.ndim > 2 and b.shape[-1] > 1 and b.strides[-1] != b.itemsize:
        # a stack of transposed right operands (attention's k^T, v^T in its backward):
        # NumPy multiplies those ~2x slower than it copies them and multiplies (measured
        # here: (128, 64, 32) @ (128, 32, 64), 0.61 ms; copy and multiply, 0.32 ms); a
        # transposed left operand runs at full speed
        b = np.ascontiguousarray(b)
    return np.matmul(a, b)


# ops a plan may hold and still run pinned to one BLAS thread as a whole: none calls
# BLAS but through the small GEMMs and GEMV sums checked below
_NO_BLAS = frozenset({
    "input", "param", "state", "const", "get", "fused", "reshape", "permute",
    "broadcast_to", "index", "index_backward", "concat", "gather", "gather_backward",
    "max", "min", "argmax", "argmin", "where", "cast", "identity", "one_hot",
    "relu_backward", "nll_loss", "nll_loss_backward", "cross_entropy_backward", "gelu",
    "gelu_backward"})
# sums as GEMVs (numpy_backend.py, norm_kernels.py)
_ROW_SUMS = frozenset({"sum", "softmax", "log_softmax", "layer_norm", "layer_norm_backward"})


def _small_blas_only(graph, elementwise) -> bool:
    """Whether every BLAS call of the plan is small: its matmuls are 2-d GEMMs below
    SMALL_GEMM multiply-adds, its row sums read fewer than SMALL_GEMM / 4 elements, and
    every other op is elementwise or calls no BLAS."""
    for n in graph.nx:
        data = graph[n]
        op = data["op"]
        if op in _NO_BLAS or op in elementwise:
            continue
        shapes = [graph[a]["shape"] for a in graph.args(n)]
        if op == "matmul" and all(len(s) == 2 for s in shapes):
            (m, k), (_, cols) = shapes
            if m * k * cols < SMALL_GEMM:
                continue
        elif op in _ROW_SUMS and math.prod(shapes[0]) < SMALL_GEMM // 4:
            continue
        return False
    return True


def pinned_plan(run, graph, namespace, elementwise):
    """`run` (a lowered plan) called with OpenBLAS's pool pinned to one thread, once
    per call, where the plan's GEMMs are all small (see the module docstring): its
    small-GEMM kernels, bound in `namespace`, become plain np.dot. None where the plan
    has no small GEMM, or a BLAS call that is not small, or no OpenBLAS is found.
    `elementwise`: the names of the elementwise ops (they call no BLAS)."""
    smalls = [k for k, v in namespace.items()
              if type(v) is FunctionType and getattr(v, "small_gemm", False) is True]
    if not smalls or not switch() or not _small_blas_only(graph, elementwise):
        return None
    for k in smalls:
        namespace[k] = np.dot
    get, put = switch()

    def run_pinned(*arrays):
        n = get()
        if n <= 1:
            return run(*arrays)
        put(1)
        try:
            return run(*arrays)
        finally:
            put(n)
    run_pinned.__wrapped__ = run
    return run_pinned
