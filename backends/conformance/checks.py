"""Running one case on the backend under test, and what a result must satisfy."""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.ir.verify import Aval
from graphgrad.ops import REGISTRY
from graphgrad.tensor import Tensor


def to_backend(backend, arrays) -> list[Tensor]:
    return [Tensor._wrap(backend.from_numpy(a), backend) for a in arrays]


def run_case(backend, case) -> np.ndarray:
    """The op applied to the case's inputs on `backend` (through graphgrad's dispatch)."""
    with gg.no_grad(), np.errstate(all="ignore"):
        out = REGISTRY[case.op](*to_backend(backend, case.arrays()), **case.kwargs())
        return backend.to_numpy(out._value)


def expected_type(case) -> tuple[tuple[int, ...], np.dtype]:
    shape, dtype = REGISTRY[case.op].infer(*[Aval(a.shape, a.dtype) for a in case.arrays()],
                                           **case.kwargs())
    return tuple(shape), np.dtype(dtype)


def describe(case) -> str:
    shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in case.arrays())
    attrs = f" {case.kwargs()}" if case.kwargs() else ""
    note = f", sample {case.index}: {case.sample.note}" if case.sample.note else \
        f", sample {case.index}"
    return f"op {case.op!r} on ({shapes}){attrs} [{case.variant}{note}]"
