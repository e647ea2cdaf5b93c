"""The CuPy backend: graphgrad on an NVIDIA GPU, a plugin like any third-party one.

CuPy is imported lazily (in `availability()` and in the constructor), so `import graphgrad`
never needs it; without CuPy or without a CUDA device the backend is listed as unavailable
with the reason. The kernel table mirrors the NumPy backend's on CuPy arrays: matmul runs
through cuBLAS, scatter-adds through `cupy.add.at` (`cupyx.scatter_add` before CuPy 13),
random draws through a seeded `cupy.random.RandomState` (cuRAND).

Fused elementwise programs become generated CUDA (cuda_codegen.py): one
`cupy.ElementwiseKernel` per program, built once per op/attribute/dtype signature, so
every shape (every parameter of an Adam update) shares it, and CuPy handles
broadcasting, strides and several outputs. A program whose outputs have different
shapes (ElementwiseKernel gives all outputs one shape) runs as one kernel per output
shape; see `ir.fused.split_by_output_shape`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

from graphgrad.ir.fused import split_by_output_shape
from graphgrad.ops.shape import index_tuple

from . import nn_kernels, seq_kernels
from .base import Backend, run_parts
from .cuda_codegen import (
    HELPERS,
    UnsupportedFusion,
    kernel_parts,
    signature,
)
from .cupy_collectives import collective_kernels

INSTALL_HINT = "pip install graphgrad[cuda]"


def _elementwise_kernels(cp, erf, sigmoid) -> dict[str, Callable]:
    """Elementwise kernels: CuPy's ufuncs, plus `erf` and `sigmoid` passed in (CuPy has
    no sigmoid; the backend builds one ElementwiseKernel from the codegen's helper)."""

    def clamp(x, min, max):
        out = x if min is None else cp.maximum(x, x.dtype.type(min))
        out = out if max is None else cp.minimum(out, x.dtype.type(max))
        return out.copy() if out is x else out

    return dict(
        add=cp.add, sub=cp.subtract, mul=cp.multiply, div=cp.true_divide, neg=cp.negative,
        pow=cp.power, pow_scalar=lambda x, exponent: cp.power(x, x.dtype.type(exponent)),
        exp=cp.exp, log=cp.log, log1p=cp.log1p, sqrt=cp.sqrt, abs=cp.abs,
        sin=cp.sin, cos=cp.cos, tanh=cp.tanh, sigmoid=sigmoid, erf=erf, sign=cp.sign,
        relu=lambda x: cp.maximum(x, x.dtype.type(0)),
        maximum=cp.maximum, minimum=cp.minimum, where=cp.where, clamp=clamp,
        eq=cp.equal, ne=cp.not_equal, lt=cp.less, le=cp.less_equal, gt=cp.greater,
        ge=cp.greater_equal, logical_not=cp.logical_not,
        logical_and=cp.logical_and, logical_or=cp.logical_or,
        cast=lambda x, dtype: x.astype(dtype), identity=lambda x: x.copy(),
    )


def _array_kernels(cp, scatter_add) -> dict[str, Callable]:
    """Kernels written against the NumPy-compatible API CuPy shares (so `cp=numpy`,
    `scatter_add=numpy.add.at` runs them on the CPU: that is how tests check their logic)."""

    def reduce(fn):
        return lambda x, axis, keepdims: fn(x, axis=axis, keepdims=keepdims)

    def arg_reduce(fn):
        def kernel(x, axis, keepdims):
            out = fn(x, axis=axis)
            return cp.expand_dims(out, axis) if keepdims and axis is not None else out
        return kernel

    def index_backward(g, *arrays, spec, shape):
        out = cp.zeros(shape, dtype=g.dtype)
        scatter_add(out, index_tuple(spec, arrays), g)
        return out

    def gather_backward(g, idx, axis, shape):
        # One flat index per element of g: scatter-add into the raveled (contiguous) output.
        out = cp.zeros(shape, dtype=g.dtype)
        idx = cp.where(idx < 0, idx + shape[axis], idx)
        strides = [math.prod(shape[d + 1:]) for d in range(len(shape))]
        flat = cp.zeros(idx.shape, dtype=cp.int64)
        for d, n in enumerate(idx.shape):
            pos = idx if d == axis else \
                cp.arange(n).reshape([n if e == d else 1 for e in range(idx.ndim)])
            flat = flat + pos * strides[d]
        scatter_add(out.reshape(-1), flat.reshape(-1), g.reshape(-1))
        return out

    def binary_cross_entropy(p, t):
        if not bool(((p >= 0) & (p <= 1)).all()):
            raise ValueError("all elements of input should be between 0 and 1")
        return -(t * cp.maximum(cp.log(p), -100.0) + (1 - t) * cp.maximum(cp.log(1 - p), -100.0))

    def softmax(x, axis):
        e = cp.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    def log_softmax(x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        return shifted - cp.log(cp.exp(shifted).sum(axis=axis, keepdims=True))

    return dict(
        sum=reduce(cp.sum), max=reduce(cp.max), min=reduce(cp.min),
        argmax=arg_reduce(cp.argmax), argmin=arg_reduce(cp.argmin),
        matmul=cp.matmul,
        reshape=lambda x, shape: cp.reshape(x, shape),
        permute=lambda x, axes: cp.transpose(x, axes),
        broadcast_to=lambda x, shape: cp.broadcast_to(x, shape),
        concat=lambda *xs, axis: cp.concatenate(xs, axis=axis),
        index=lambda x, *arrays, spec: x[index_tuple(spec, arrays)],
        index_backward=index_backward,
        softmax=softmax, log_softmax=log_softmax,
        gather=lambda x, idx, axis: cp.take_along_axis(x, idx, axis),
        binary_cross_entropy=binary_cross_entropy,
        gather_backward=gather_backward,
        one_hot=lambda idx, num_classes: (idx[..., None] == cp.arange(num_classes))
        .astype(cp.int64),
        **nn_kernels.kernels(cp),  # convolution and pooling
    )


def _float_draw(dtype) -> np.dtype:
    """cuRAND draws float32 or float64 directly; other dtypes are cast from float64."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind == "f" else np.dtype("float64")


def _random_kernels(backend) -> dict[str, Callable]:
    """Draws from `backend.rng` (a cupy.random.RandomState), read at call time: `seed()`
    replaces the generator."""
    return dict(
        rand=lambda shape, dtype: backend.rng.random_sample(shape, dtype=_float_draw(dtype))
        .astype(dtype, copy=False),
        randn=lambda shape, dtype: backend.rng.standard_normal(shape, dtype=_float_draw(dtype))
        .astype(dtype, copy=False),
        randint=lambda shape, dtype, low, high: backend.rng.randint(
            low, high, size=shape, dtype=np.int64).astype(dtype, copy=False),
        randperm=lambda shape, dtype: backend.rng.permutation(shape[0]).astype(dtype),
    )


class CupyBackend(Backend):
    """Runs every op with CuPy on the current CUDA device."""

    name = "cupy"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        try:
            import cupy
        except ImportError:
            return False, f"CuPy is not installed ({INSTALL_HINT})"
        except Exception as exc:  # a broken CUDA install can fail in other ways
            return False, f"CuPy failed to import: {type(exc).__name__}: {exc}"
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:
            return False, f"no CUDA device: {type(exc).__name__}: {exc}"
        if count < 1:
            return False, "no CUDA device: the CUDA runtime reports 0 GPUs"
        return True, ""

    def __init__(self):
        super().__init__()
        import cupy
        import cupyx
        from cupyx.scipy.special import erf

        self._cp = cupy
        self.rng = cupy.random.RandomState()
        self._elementwise: dict[tuple, object] = {}  # signature -> ElementwiseKernel
        sigmoid = cupy.ElementwiseKernel("T x", "T y", "y = gg_sigmoid(x)",
                                         "gg_sigmoid_kernel", preamble=HELPERS["gg_sigmoid"])
        self.kernels.update(_elementwise_kernels(cupy, erf, sigmoid))
        # `cupy.add.at` (CuPy >= 13) replaces the deprecated `cupyx.scatter_add`.
        scatter_add = getattr(cupy.add, "at", None) or cupyx.scatter_add
        self.kernels.update(_array_kernels(cupy, scatter_add))
        self.kernels.update(_random_kernels(self))
        self.kernels.update(collective_kernels(cupy))
        self.kernels.update(seq_kernels.kernels(cupy))  # recurrent layers, cumsum, argsort

    # ------------------------------------------------------------------ arrays
    def from_numpy(self, array: np.ndarray):
        """Copy a host array to the current device (always a new device array)."""
        return self._cp.array(np.asarray(array), copy=True)

    def to_numpy(self, array) -> np.ndarray:
        """Copy a device array to the host (waits for the kernels that produce it)."""
        if isinstance(array, self._cp.ndarray):
            return self._cp.asnumpy(array)
        return np.asarray(array)

    def seed(self, seed: int) -> None:
        self.rng = self._cp.random.RandomState(seed)

    def synchronize(self) -> None:
        self._cp.cuda.get_current_stream().synchronize()

    # ------------------------------------------------------------------ fusion
    def compile_fused(self, program) -> Callable:
        """One generated ElementwiseKernel per output shape of the program (usually one)."""
        try:
            parts = [(self._elementwise_kernel(sub), ins, outs)
                     for sub, ins, outs in split_by_output_shape(program)]
        except UnsupportedFusion as exc:
            warnings.warn(f"cupy backend: running a fused group op by op ({exc})",
                          stacklevel=2)
            return super().compile_fused(program)
        if len(parts) == 1:
            return parts[0][0]
        return run_parts(parts, len(program.outputs))

    @property
    def fused_kernel_count(self) -> int:
        """How many distinct fused kernels this backend has built (each compiles once)."""
        return len(self._elementwise)

    def _elementwise_kernel(self, program) -> Callable:
        cp = self._cp
        sig = signature(program)
        kernel = self._elementwise.get(sig)
        if kernel is None:
            parts = kernel_parts(program)
            kernel = cp.ElementwiseKernel(parts.in_params, parts.out_params, parts.body,
                                          parts.name, preamble=parts.preamble)
            self._elementwise[sig] = kernel
        out_types = program.output_types
        single = len(out_types) == 1

        def run(*arrays, out=None):
            if out is None or all(o is None for o in out):
                return kernel(*arrays)
            # CuPy takes all outputs or none: allocate the ones the plan did not hand in.
            # Overwriting an input of the output's shape is safe elementwise (each element
            # is read before it is written, by the same thread; CuPy copies an input that
            # merely overlaps an output).
            outs = [cp.empty(s, d) if o is None else o for o, (s, d) in zip(out, out_types)]
            result = kernel(*arrays, *outs)
            return result if single else tuple(result)

        return run
