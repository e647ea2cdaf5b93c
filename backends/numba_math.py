"""float32 exp, tanh and sigmoid that LLVM can vectorize, for the generated Numba loops;
GELU and its derivative on top of them (and, for float64, on libm's tanh and erf).

Numba calls the C library's scalar `expf`/`tanhf` once per element (~20-60 ns each here)
unless llvmlite is built with Intel's SVML, which current llvmlite wheels are not
(`numba -s`: "SVML Operational: False"). NumPy's own float32 exp and tanh are SIMD loops,
so a fused loop calling libm lost to NumPy's separate passes. These versions are plain
arithmetic (Cephes' expf: range reduction by ln 2, a degree-6 polynomial, the power of
two built from its bits), inlined into the loop, so LLVM vectorizes them; their error is
within 2 ulp of the correctly rounded result, NaN and +-Inf behave as in NumPy.

This module imports Numba: only the generated modules (numba_codegen.py) import it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.core import types
from numba.extending import intrinsic

f32 = np.float32
_LOG2E, _LN2_HI, _LN2_LO = f32(1.44269504088896341), f32(0.693359375), f32(-2.12194440e-4)
_P = tuple(f32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                       1.6666665459e-1, 5.0000001201e-1))
_HI, _LO = f32(89.0), f32(-104.0)  # beyond: +inf and 0 (after the two-step scaling)
_HALF, _ONE, _TWO = f32(0.5), f32(1.0), f32(2.0)
# tanh's odd polynomial below |x| < 0.625 (Cephes tanhf), where 1 - 2/(e^2x + 1) cancels
_T = tuple(f32(c) for c in (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                       1.33314422036e-1, -3.33332819422e-1))
_TANH_SMALL = f32(0.625)


@intrinsic
def _bits_as_float32(typingctx, bits):
    """The float32 whose IEEE bits are the int32 `bits` (a bitcast, no conversion)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return sig, codegen


@njit(inline="always", fastmath={"contract"}, error_model="numpy")
def _pow2(n):
    return _bits_as_float32(np.int32((n + 127) << 23))


@njit(inline="always", fastmath={"contract"}, error_model="numpy")
def exp32(x):
    """e**x for a float32 x (NaN stays NaN: every step below propagates it)."""
    x = _HI if x > _HI else (_LO if x < _LO else x)
    n = np.floor(x * _LOG2E + _HALF)
    r = x - n * _LN2_HI - n * _LN2_LO
    p = _P[0]
    p = p * r + _P[1]
    p = p * r + _P[2]
    p = p * r + _P[3]
    p = p * r + _P[4]
    p = p * r + _P[5]
    p = p * r * r + r + _ONE
    k = np.int32(n)
    half = k >> 1  # two factors: 2**k alone over- or underflows at the range's ends
    return p * _pow2(half) * _pow2(k - half)


@njit(inline="always", fastmath={"contract"}, error_model="numpy")
def tanh32(x):
    """tanh of a float32 x: an odd polynomial near 0, 1 - 2/(e^2|x| + 1) elsewhere."""
    a = abs(x)
    z = x * x
    p = _T[0]
    p = p * z + _T[1]
    p = p * z + _T[2]
    p = p * z + _T[3]
    p = p * z + _T[4]
    small = x + x * z * p
    big = _ONE - _TWO / (exp32(a + a) + _ONE)
    big = big if x >= 0 else -big
    return small if a < _TANH_SMALL else (big if a == a else x)


@njit(inline="always", fastmath={"contract"}, error_model="numpy")
def sigmoid32(x):
    """1 / (1 + e**-x) for a float32 x, with exp of -|x| only (never overflows)."""
    e = exp32(-abs(x))
    return _ONE / (_ONE + e) if x >= 0 else e / (_ONE + e)


# GELU's constants: sqrt(2/pi), the tanh form's cubic coefficient, 1/sqrt(2), 1/sqrt(2 pi)
_GC, _GK, _GK3 = 0.7978845608028654, 0.044715, 3 * 0.044715
_GC32, _GK32, _GK332 = f32(_GC), f32(_GK), f32(_GK3)
_RSQRT2, _RSQRT2PI = 0.7071067811865476, 0.3989422804014327


@njit(inline="always", fastmath={"contract"}, error_model="numpy")
def gelu_tanh32(x):
    """x (1 + tanh(c (x + k x^3))) / 2 for a float32 x."""
    return _HALF * x * (_ONE + tanh32(_GC32 * (x + _GK32 * x * x * x)))


@njit(inline="always", fastmath={"contract"}, error_model="numpy")
def gelu_tanh_grad32(g, x):
    """g times gelu_tanh32's derivative: (1 + t) / 2 + x (1 - t^2) c (1 + 3 k x^2) / 2."""
    t = tanh32(_GC32 * (x + _GK32 * x * x * x))
    du = _GC32 * (_ONE + _GK332 * x * x)
    return g * (_HALF * (_ONE + t) + _HALF * x * (_ONE - t * t) * du)


@njit(inline="always", fastmath={"contract"}, error_model="numpy")
def gelu_tanh64(x):
    return 0.5 * x * (1.0 + math.tanh(_GC * (x + _GK * x * x * x)))


@njit(inline="always", fastmath={"contract"}, error_model="numpy")
def gelu_tanh_grad64(g, x):
    t = math.tanh(_GC * (x + _GK * x * x * x))
    return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GC * (1.0 + _GK3 * x * x))


@njit(inline="always", fastmath={"contract"}, error_model="numpy")
def gelu_erf(x):
    """x Phi(x), in float64 (the generated code rounds the result to the step's dtype)."""
    return 0.5 * x * (1.0 + math.erf(x * _RSQRT2))


@njit(inline="always", fastmath={"contract"}, error_model="numpy")
def gelu_erf_grad(g, x):
    """g (Phi(x) + x phi(x))."""
    return g * (0.5 * (1.0 + math.erf(x * _RSQRT2)) + x * math.exp(-0.5 * x * x) * _RSQRT2PI)
