"""pytest fixtures that run a test on the CuPy backend: under the CPU emulation always,
and on a real CUDA device (marked `gpu`) only where one is present.

Test ids say which: `[cupy-emulated]` or `[cupy-gpu]`. The emulated backend is a fresh
CupyBackend built on the emulation (`tests/cupy_emulation/site`), registered as "cupy"
for the duration of the test and forgotten after it, so the rest of the suite never
sees a `cupy` it did not ask for.
"""

from __future__ import annotations

import pytest

import graphgrad as gg
from graphgrad.backends import registry
from graphgrad.backends.cupy_backend import CupyBackend

from . import LABEL, activate, deactivate, is_emulation, usable


def real_gpu() -> tuple[bool, str]:
    """Whether a real CuPy with a CUDA device is here (never the emulation)."""
    ok, reason = CupyBackend.availability()
    if ok and reason:  # usable with a label: an emulation is active, not a GPU
        return False, "only the CPU emulation of CuPy is active"
    return ok, reason


GPU, GPU_REASON = real_gpu()
EMULATION_OK, EMULATION_REASON = usable()

#: Parametrize a fixture over these to run on both (ids: cupy-emulated, cupy-gpu).
FLAVOURS = [
    pytest.param(LABEL, id=LABEL, marks=pytest.mark.skipif(
        not EMULATION_OK, reason=f"CuPy emulation unusable: {EMULATION_REASON}")),
    pytest.param("cupy-gpu", id="cupy-gpu", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not GPU, reason=f"no CUDA device for the real CuPy backend: {GPU_REASON}")]),
]


def _enter(flavour: str):
    if flavour == LABEL:
        module = activate()
        assert is_emulation(module)
    registry.register("cupy", CupyBackend)
    return gg.backends.get_backend("cupy")


def _leave(flavour: str) -> None:
    gg.set_default_backend("numpy")
    registry.register("cupy", CupyBackend)
    if flavour == LABEL:
        deactivate()


@pytest.fixture(params=FLAVOURS)
def cupy_backend(request):
    """The "cupy" backend, emulated or on a GPU (see FLAVOURS)."""
    backend = _enter(request.param)
    try:
        yield backend
    finally:
        _leave(request.param)


@pytest.fixture
def emulated_cupy():
    """The "cupy" backend under the CPU emulation only (regression tests of CuPy's rules)."""
    if not EMULATION_OK:
        pytest.skip(f"CuPy emulation unusable: {EMULATION_REASON}")
    backend = _enter(LABEL)
    try:
        yield backend
    finally:
        _leave(LABEL)
