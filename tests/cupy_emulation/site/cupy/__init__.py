"""CPU EMULATION of CuPy for graphgrad's test suite: NOT CuPy, and nothing it runs is GPU truth.

Importable as `cupy` only where tests put `tests/cupy_emulation/site` on the path
(`tests/cupy_emulation.activate()` or its subprocess environment); never on a user's
path. Device arrays are NumPy arrays behind a wrapper that keeps CuPy's rules (see
`_array`, `_functions`), generated `ElementwiseKernel`/`RawKernel` CUDA source is
compiled as host C++ and run (`_kernel`), and `cuda`/`random` are stand-ins.
"""

import numpy as _np

from . import cuda, lib, random  # noqa: F401 (the module's namespaces)
from ._array import ndarray  # noqa: F401
from ._compiler import compile_pending as _emulation_compile_pending  # noqa: F401
from ._functions import *  # noqa: F403
from ._functions import abs, array, asarray, asnumpy, sort, take  # noqa: F401
from ._kernel import ElementwiseKernel, RawKernel  # noqa: F401

__version__ = "13.0.0+graphgrad.emulation"
#: What graphgrad shows wherever this module stands in for CuPy.
__graphgrad_emulation__ = ("CPU emulation of CuPy (tests/cupy_emulation: NumPy arrays, "
                           "generated CUDA run as host C++); not GPU truth")

newaxis = None
inf, nan, pi, e = _np.inf, _np.nan, _np.pi, _np.e
dtype, finfo, iinfo, can_cast = _np.dtype, _np.finfo, _np.iinfo, _np.can_cast
bool_, int8, int16, int32, int64 = _np.bool_, _np.int8, _np.int16, _np.int32, _np.int64
uint8, uint32, uint64 = _np.uint8, _np.uint32, _np.uint64
float16, float32, float64 = _np.float16, _np.float32, _np.float64


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_pool = _MemoryPool()


def get_default_memory_pool():
    return _pool


def get_default_pinned_memory_pool():
    return _pool
