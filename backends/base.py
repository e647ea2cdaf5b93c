"""The `Backend` contract: what a plugin provides so graphgrad can run on it.

A backend is a class registered under the entry-point group `graphgrad.backends`.
It converts arrays to and from NumPy, holds one kernel per op name
(`kernels[name](*arrays, **attrs) -> array`), draws random numbers from its own seeded
generator, and compiles fused elementwise programs. Everything else (tracing,
autodiff, passes, scheduling) is the engine's and is shared by every backend.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class Backend:
    """Base class of backend plugins; subclass it and fill `kernels`."""

    #: The name users pass to `gg.compile(backend=...)` and `Tensor.to(...)`.
    name: str = "?"
    #: Ops and dtypes this backend does not implement (the conformance report lists them).
    unsupported_ops: frozenset[str] = frozenset()
    unsupported_dtypes: frozenset[str] = frozenset()
    #: Conformance test ids (or op names) expected to fail, with the reason.
    expected_failures: dict[str, str] = {}

    def __init__(self):
        self.kernels: dict[str, Callable] = {}

    # ------------------------------------------------------------------ availability
    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(usable, reason when not): e.g. (False, "no CUDA device")."""
        return True, ""

    # ------------------------------------------------------------------ arrays
    def from_numpy(self, array: np.ndarray):
        raise NotImplementedError(f"backend {self.name} must implement from_numpy")

    def to_numpy(self, array) -> np.ndarray:
        raise NotImplementedError(f"backend {self.name} must implement to_numpy")

    def seed(self, seed: int) -> None:
        """Reset this backend's random generator (called by `gg.manual_seed`)."""

    def synchronize(self) -> None:
        """Wait for queued work (asynchronous devices); used by benchmarks."""

    def __deepcopy__(self, memo):
        # A backend is a registry singleton (it owns the kernels and the RNG): deep copies
        # of tensors and modules must share it, or their ops would see two backends.
        return self

    def specialize(self, op: str, arg_types, attrs: dict) -> Callable | None:
        """Optionally, a kernel for one node of a plan: `op` with these attributes on
        arguments of these (shape, dtype) types, called with the arrays alone. Lowering
        binds it instead of `kernels[op]`, so choices a kernel would make at every call
        (which algorithm suits these shapes) are made once. None: use `kernels[op]`.
        Asked only for ops in `kernels` (a subclass that removes a kernel removes its
        specializations too)."""
        return None

    #: Optional: a method `column_major(array)` giving the array in column-major order.
    #: The `layout` pass then keeps weights that matmuls only read transposed that way
    #: (for BLAS libraries whose `x @ W.T` is slower than `x @ W`).
    column_major: Callable | None = None

    # ------------------------------------------------------------------ flat state
    #: Whether `pack` and `views` work. The `foreach` pass then keeps small parameters
    #: and their optimizer state in one flat buffer per role and updates them all with
    #: one fused kernel (see graphgrad/passes/foreach.py).
    flat_state: bool = False

    def pack(self, arrays):
        """A new 1-d array holding `arrays` (one dtype) one after another."""
        raise NotImplementedError(f"backend {self.name} does not implement pack")

    def views(self, flat, shapes) -> list:
        """Arrays of these shapes over consecutive parts of `flat`, sharing its memory:
        writing into `flat` (`flat[...] = x` or a kernel's `out=`) changes them."""
        raise NotImplementedError(f"backend {self.name} does not implement views")

    # ------------------------------------------------------------------ fusion
    def compile_fused(self, program) -> Callable:
        """A callable running a fused elementwise program (`graphgrad.ir.fused.FusedProgram`).

        It returns one array for a one-output program, else a tuple in `program.outputs`
        order. It may be given `out=(array or None, ...)`, one per output: buffers the
        plan no longer needs, which the kernel may write its results into (and return)
        to save allocations; ignoring them is always correct. The default runs the
        program's steps one kernel at a time: correct everywhere, fast nowhere. Backends
        override it with a real fused kernel.
        """
        kernels = [(self.kernels[step.op], step.args, step.attrs) for step in program.steps]
        n_in, outputs = program.n_inputs, program.outputs
        single = len(outputs) == 1

        def run(*arrays, out=None):  # `out` is a hint this simple version ignores
            regs = list(arrays) + [None] * len(kernels)
            for i, (kernel, args, attrs) in enumerate(kernels):
                regs[n_in + i] = kernel(*[regs[a] for a in args], **attrs)
            return regs[outputs[0]] if single else tuple(regs[o] for o in outputs)

        return run


def run_parts(parts, n_outputs: int) -> Callable:
    """One fused kernel from the kernels of a split program's parts
    (`ir.fused.split_by_output_shape`): they run in turn, and their outputs are
    gathered in program order."""

    # A buffer the plan hands in may be an argument a later kernel still reads.
    read_later = [sorted({a for _, ins, _ in parts[i + 1:] for a in ins})
                  for i in range(len(parts))]

    def run(*arrays, out=None):
        results = [None] * n_outputs
        for (kernel, ins, outs), later in zip(parts, read_later):
            args = [arrays[a] for a in ins]
            given = None
            if out is not None:
                given = tuple(None if out[j] is None or any(out[j] is arrays[a] for a in later)
                              else out[j] for j in outs)
            value = kernel(*args, out=given)
            for j, v in zip(outs, value if len(outs) > 1 else (value,)):
                results[j] = v
        return tuple(results)

    return run
