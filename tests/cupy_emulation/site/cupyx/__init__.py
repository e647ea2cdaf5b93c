"""CPU EMULATION of `cupyx` (tests/cupy_emulation): `scatter_add` (CuPy's atomics: out-of-range
indices wrap, duplicates add up in an unspecified order) and `cupyx.scipy.special.erf`."""

import cupy


def scatter_add(a, slices, value):
    cupy.add.at(a, slices, value)
