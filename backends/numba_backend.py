"""The Numba backend: a compiled step as one native function, else native fused loops.

`compile_plan` takes over a whole lowered plan (Backend contract): numba_plan.py writes
one `@njit` function per plan (loop nests, BLAS, reductions as loops, state updated in
place), cached on disk. A plan with an op it does not cover runs as the per-kernel plan
below, and `gg.compile(...).backend_info()` says why; $GRAPHGRAD_NUMBA_WHOLE_PLAN=0
turns whole plans off.

Every kernel is the NumPy backend's (so every op runs, and the conformance suite holds);
what changes is `compile_fused`: each fused elementwise program becomes one generated
`@njit` loop (numba_codegen.py) that computes every step of an element in registers and
writes the outputs once, instead of one NumPy pass over memory per op. Loops run under
`prange` above `numba_codegen.PARALLEL_MIN` elements, LLVM vectorizes them (float32
exp/tanh/sigmoid through numba_math.py: PyPI's llvmlite wheels are not SVML-patched, so
Intel's SVML runtime would not be used even when installed: `numba -s` says
"llvmlite Using SVML Patched LLVM: False", "SVML Operational: False"; the extra does
not install it), and their compiled code is cached on disk,
so a second process starts warm.

Numba is imported lazily (in `availability()`, and by the generated modules), so
`import graphgrad` never needs it; without it the backend is listed as unavailable with
the reason. Programs the generator does not cover (integer division and powers, erf) run as the
NumPy backend's fused function; the callable says why in its `numba_fallback`
attribute.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable

import numpy as np

from graphgrad.ir.fused import slice_program, split_by_output_shape

from . import numba_codegen, numba_plan
from .base import PlanUnsupported, run_parts
from .cuda_codegen import UnsupportedFusion
from .numpy_backend import NumpyBackend

INSTALL_HINT = "pip install graphgrad[numba]"
WHOLE_PLAN_ENV = "GRAPHGRAD_NUMBA_WHOLE_PLAN"


class NumbaBackend(NumpyBackend):
    """NumPy arrays and kernels; fused elementwise programs compiled by Numba."""

    name = "numba"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        try:
            import numba  # noqa: F401  (optional dependency: imported only to check it)
        except ImportError:
            return False, f"Numba is not installed ({INSTALL_HINT})"
        except Exception as exc:  # a broken llvmlite can fail in other ways
            return False, f"Numba failed to import: {type(exc).__name__}: {exc}"
        return True, ""

    def __init__(self):
        super().__init__()
        # fused callables by program key, alive while a plan holds them
        self._numba_fused = weakref.WeakValueDictionary()

    def compile_plan(self, request) -> Callable:
        """The whole plan as one generated Numba function (numba_plan.py); raises
        `PlanUnsupported` with the reason for a plan it does not cover, or when
        $GRAPHGRAD_NUMBA_WHOLE_PLAN is 0 (a new plan's first compile takes seconds: the
        per-kernel path compiles less, and its fused loops are shared between plans)."""
        if os.environ.get(WHOLE_PLAN_ENV, "1") == "0":
            raise PlanUnsupported(f"whole-plan mode is off ({WHOLE_PLAN_ENV}=0)")
        return numba_plan.compile_plan(request)

    def compile_fused(self, program) -> Callable:
        """One generated Numba loop per output shape of the program (usually one); the
        NumPy backend's fused function where the generator does not apply."""
        key = program.key
        fn = self._numba_fused.get(key)
        if fn is None:
            fn = self._numba_fused[key] = self._build(program)
        return fn

    def _build(self, program) -> Callable:
        parts = []
        try:
            for sub, ins, outs in split_by_output_shape(program):
                # only the steps and inputs the outputs need: an unused input may have
                # a shape that does not broadcast to the outputs'
                live, used = slice_program(sub, sub.outputs)
                parts.append((fused_kernel(live), tuple(ins[u] for u in used), outs))
        except UnsupportedFusion as exc:
            return _fallback(super().compile_fused(program), str(exc))
        if len(parts) == 1 and parts[0][1] == tuple(range(program.n_inputs)):
            return parts[0][0]
        run = run_parts(parts, len(program.outputs))
        if len(program.outputs) == 1:
            run = _first(run)
        run.source = "\n".join(kernel.source for kernel, _, _ in parts)
        return run


def _first(run: Callable) -> Callable:
    """A one-output program returns its array, not a 1-tuple."""

    def first(*arrays, out=None):
        return run(*arrays, out=out)[0]

    return first


def _fallback(fn: Callable, reason: str) -> Callable:
    """`fn` (the NumPy fused function) under its own name, with the reason attached."""

    def run(*arrays, out=None):
        return fn(*arrays, out=out)

    run.numba_fallback = reason
    run.source = getattr(fn, "source", "")
    return run


def fused_kernel(program) -> Callable:
    """A callable for a program whose outputs share one shape: broadcasts and flattens
    the inputs, picks or allocates C-contiguous outputs, and runs the generated loop."""
    module = numba_codegen.load(program)
    shape = tuple(program.output_types[0][0])
    size = int(np.prod(shape, dtype=np.int64))
    in_types = [(tuple(s), np.dtype(d), numba_codegen.is_scalar(s))
                for s, d in program.input_types]
    out_dtypes = [np.dtype(d) for _, d in program.output_types]
    loop = module.parallel if size >= numba_codegen.PARALLEL_MIN else module.serial
    single = len(out_dtypes) == 1

    def run(*arrays, out=None):
        flat = [_flat_input(a, dtype, scalar, shape)
                for a, (_, dtype, scalar) in zip(arrays, in_types)]
        targets = _targets(out, arrays, shape, out_dtypes)
        if size:
            loop(size, *flat, *[t.reshape(-1) for t in targets])
        return targets[0] if single else tuple(targets)

    run.source = module.source
    return run


def _flat_input(a, dtype, scalar: bool, shape) -> np.ndarray:
    """`a` as a 1-d C-contiguous array: one element for a scalar input, else the
    output's element count (broadcast and copied when it has another shape or layout)."""
    if scalar:
        return np.asarray(a, dtype).reshape(1)
    a = np.asarray(a)
    if a.shape != shape:
        a = np.broadcast_to(a, shape)
    if a.dtype != dtype or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype)
    return a.reshape(-1)


def _targets(out, arrays, shape, dtypes) -> list[np.ndarray]:
    """The out= buffers the loop may write (rule 'out-aliasing': an input itself is
    fine, each element is read before it is written; a buffer merely overlapping an
    input is not), and new arrays for the rest."""
    targets = []
    for j, dtype in enumerate(dtypes):
        o = out[j] if out is not None else None
        if not (isinstance(o, np.ndarray) and o.shape == shape and o.dtype == dtype
                and o.flags.c_contiguous and o.flags.writeable
                and not any(o is t for t in targets)
                and not any(a is not o and isinstance(a, np.ndarray)
                            and np.may_share_memory(a, o) for a in arrays)):
            o = np.empty(shape, dtype)
        targets.append(o)
    return targets
