"""`gg.cuda`: PyTorch's questions about the GPU, answered by the CuPy backend."""

from __future__ import annotations

from .backends.registry import available, get_backend


def is_available() -> bool:
    """Whether the CuPy backend can run here (CuPy installed and a CUDA device present)."""
    return "cupy" in available()


def device_count() -> int:
    """How many CUDA devices graphgrad can use: 1 with a usable CuPy backend (graphgrad
    runs on one device per backend), else 0."""
    return 1 if is_available() else 0


def synchronize() -> None:
    """Wait for the GPU's queued work (nothing to do without one)."""
    if is_available():
        get_backend("cupy").synchronize()


def manual_seed(seed: int) -> None:
    """Seed the GPU's generator (graphgrad seeds every backend with `gg.manual_seed`)."""
    if is_available():
        get_backend("cupy").seed(int(seed))
