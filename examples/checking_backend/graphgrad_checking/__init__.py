"""`checking`: NumPy kernels whose every result is checked against the op's own rules.

Each kernel of the NumPy backend is wrapped: after it runs, its result must have the
shape and dtype that the op's `infer` rule gives for the operands, and it may contain
NaN only when an operand already held NaN or Inf (a NaN made from finite numbers is
where a bug or a bad input first shows). Fused groups run one checked kernel at a
time. Installed through the entry point group `graphgrad.backends` (see setup.cfg).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graphgrad.backends.base import Backend
from graphgrad.backends.numpy_backend import NumpyBackend
from graphgrad.errors import BackendError, NumericalError
from graphgrad.ops import REGISTRY

__all__ = ["CheckingBackend"]


class _Aval:
    """Shape and dtype only: what an op's `infer` rule reads. A Python number (a compiled
    step's hyperparameter) stands for a 0-d array of the array operands' dtype."""

    def __init__(self, array, like=None):
        self.shape = tuple(np.shape(array))
        self.dtype = np.asarray(array).dtype if hasattr(array, "dtype") or like is None \
            else like

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _describe(arrays) -> str:
    return ", ".join(f"{np.asarray(a).dtype}{list(np.shape(a))}" for a in arrays)


def _has_nan(array) -> bool:
    a = np.asarray(array)
    return a.dtype.kind == "f" and bool(np.isnan(a).any())


def _all_finite(arrays) -> bool:
    return all(np.isfinite(a).all() for a in map(np.asarray, arrays) if a.dtype.kind == "f")


class CheckingBackend(NumpyBackend):
    """The NumPy backend, with every kernel's result checked as it is produced."""

    name = "checking"

    def __init__(self):
        super().__init__()
        self.kernels = {name: self._checked(name, kernel) for name, kernel in self.kernels.items()}

    def _checked(self, name: str, kernel: Callable) -> Callable:
        def run(*arrays, **attrs):
            out = kernel(*arrays, **attrs)
            self.check(name, arrays, attrs, out)
            return out
        run.__name__ = f"checked_{name}"
        return run

    def check(self, name: str, arrays, attrs, out) -> None:
        """Raise if `out` is not what op `name` promises for `arrays`."""
        if not hasattr(out, "dtype") or not hasattr(out, "shape"):
            raise BackendError(f"checking backend: the kernel of {name!r} returned a "
                               f"{type(out).__name__}, not an array", op=name)
        op = REGISTRY.get(name)
        if op is not None and op.infer is not None:
            dts = [a.dtype for a in arrays if hasattr(a, "dtype")]
            like = next((d for d in dts if d != np.bool_), dts[0] if dts else None)
            shape, dtype = op.infer(*[_Aval(a, like) for a in arrays], **attrs)
            if tuple(out.shape) != tuple(shape) or out.dtype != np.dtype(dtype):
                raise BackendError(
                    f"checking backend: the kernel of {name!r} returned "
                    f"{out.dtype}{list(out.shape)} for operands ({_describe(arrays)}), but "
                    f"the op's rule says {np.dtype(dtype)}{list(shape)}", op=name)
        if _has_nan(out) and _all_finite(arrays):
            raise NumericalError(
                f"checking backend: {name!r} produced NaN from finite operands "
                f"({_describe(arrays)}; attributes {attrs or '{}'})", op=name)

    def compile_fused(self, program) -> Callable:
        """Run the program's steps one checked kernel at a time; check the outputs' types."""
        run_steps = Backend.compile_fused(self, program)
        types = program.output_types

        def run(*arrays, out=None):
            result = run_steps(*arrays)
            for value, (shape, dtype) in zip(result if len(types) > 1 else [result], types):
                if tuple(value.shape) != tuple(shape) or value.dtype != np.dtype(dtype):
                    raise BackendError(
                        f"checking backend: fused[{', '.join(program.op_names)}] returned "
                        f"{value.dtype}{list(value.shape)}, the program declares "
                        f"{np.dtype(dtype)}{list(shape)}", op="fused")
            return result
        return run
