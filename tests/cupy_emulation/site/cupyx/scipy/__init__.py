"""CPU EMULATION of `cupyx.scipy` (tests/cupy_emulation)."""
