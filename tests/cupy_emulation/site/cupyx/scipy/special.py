"""CPU EMULATION of `cupyx.scipy.special.erf`: the C library's erf, run by the emulation's
host-C++ ElementwiseKernel (as CuPy runs CUDA's erf)."""

import cupy

erf = cupy.ElementwiseKernel("T x", "T y", "y = erf(x)", "cupyx_scipy_special_erf")
