"""The CuPy backend: graphgrad on an NVIDIA GPU, a plugin like any third-party one.

CuPy is imported lazily (in `availability()` and in the constructor), so `import graphgrad`
never needs it; without CuPy or without a CUDA device the backend is listed as unavailable
with the reason. The kernel table mirrors the NumPy backend's on CuPy arrays: matmul runs
through cuBLAS, random draws through a seeded `cupy.random.RandomState` (cuRAND). The
indexing kernels (cupy_indexing.py) check their bounds on the device and raise where the
host waits anyway (`to_numpy`, `synchronize`); their gradients scatter deterministically.

Fused elementwise programs become generated CUDA (cuda_codegen.py): one
`cupy.ElementwiseKernel` per program, built once per op/attribute/dtype signature, so
every shape (every parameter of an Adam update) shares it, and CuPy handles
broadcasting, strides and several outputs. A program whose outputs have different
shapes (ElementwiseKernel gives all outputs one shape) runs as one kernel per output
shape; see `ir.fused.split_by_output_shape`.

The test suite runs all of this on every CI run under a CPU emulation of CuPy
(tests/cupy_emulation: CuPy's rules, the generated CUDA compiled as host C++); the
backend then says so (`availability()`'s reason, `device`, `emulation`), since nothing it
computes there is GPU truth. benchmarks/gpu_check.sh is the check on a real device.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from graphgrad.ir.fused import split_by_output_shape

from . import loss_kernels, nn_kernels, norm_kernels, seq_kernels
from .base import Backend, run_parts
from .cuda_codegen import (
    HELPERS,
    UnsupportedFusion,
    kernel_parts,
    signature,
)
from .cupy_collectives import NcclCollectives, use_local_rank_device
from .cupy_indexing import IndexKernels

#: What to install: CuPy's wheel for the machine's CUDA major version (or, from a
#: checkout, the matching extra of setup.cfg).
INSTALL_HINT = ('pip install cupy-cuda12x (CUDA 12) or cupy-cuda13x (CUDA 13); from a '
                'checkout: pip install -e ".[cuda12]" or ".[cuda13]"')


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
        relu_backward=lambda g, y: cp.where(y > 0, g, g.dtype.type(0)),
        maximum=cp.maximum, minimum=cp.minimum, where=cp.where, clamp=clamp,
        eq=cp.equal, ne=cp.not_equal, lt=cp.less, le=cp.less_equal, gt=cp.greater,
        ge=cp.greater_equal, logical_not=cp.logical_not,
        logical_and=cp.logical_and, logical_or=cp.logical_or,
        # cast and identity also see Python numbers (optimizer settings reach a plan so)
        cast=lambda x, dtype: cp.asarray(x).astype(dtype),
        identity=lambda x: cp.array(x, copy=True),
    )


def _array_kernels(cp) -> dict[str, Callable]:
    """Reductions, linear algebra, shapes and softmax, written against the NumPy-compatible
    API CuPy shares (the indexing kernels are cupy_indexing.py's)."""

    def reduce(fn):
        return lambda x, axis, keepdims: fn(x, axis=axis, keepdims=keepdims)

    def arg_reduce(fn):
        def kernel(x, axis, keepdims):
            out = fn(x, axis=axis)
            return cp.expand_dims(out, axis) if keepdims and axis is not None else out
        return kernel

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
        softmax=softmax, log_softmax=log_softmax,
        binary_cross_entropy=binary_cross_entropy,
    )


def _index_kernels(indexing: IndexKernels) -> dict[str, Callable]:
    return dict(index=indexing.index, index_backward=indexing.index_backward,
                gather=indexing.gather, gather_backward=indexing.gather_backward,
                one_hot=indexing.one_hot, check_index=indexing.check_index,
                index_put=indexing.index_put)


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
        """(True, "") on a CUDA device; (True, label) under the test suite's CPU emulation
        of CuPy (tests/cupy_emulation), which says so wherever it runs."""
        try:
            import cupy
        except ImportError:
            return False, f"CuPy is not installed ({INSTALL_HINT})"
        except Exception as exc:  # a broken CUDA install can fail in other ways
            return False, f"CuPy failed to import: {type(exc).__name__}: {exc}"
        emulation = getattr(cupy, "__graphgrad_emulation__", None)
        if emulation:
            return True, emulation
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
        from cupyx.scipy.special import erf

        self._cp = cupy
        use_local_rank_device(cupy)  # data-parallel jobs: one GPU per process
        #: Set under the test suite's CPU emulation of CuPy: nothing it runs is GPU truth.
        self.emulation: str | None = getattr(cupy, "__graphgrad_emulation__", None)
        self.rng = cupy.random.RandomState()
        self._elementwise: dict[tuple, object] = {}  # signature -> ElementwiseKernel
        sigmoid = cupy.ElementwiseKernel("T x", "T y", "y = gg_sigmoid(x)",
                                         "gg_sigmoid_kernel", preamble=HELPERS["gg_sigmoid"])
        self.kernels.update(_elementwise_kernels(cupy, erf, sigmoid))
        self.indexing = IndexKernels(cupy)
        self.kernels.update(_array_kernels(cupy))
        self.kernels.update(_index_kernels(self.indexing))
        self.kernels.update(_random_kernels(self))
        collectives = NcclCollectives(cupy)
        self.kernels.update(all_reduce=collectives.all_reduce, broadcast=collectives.broadcast)
        self.all_reduce_start = collectives.all_reduce_start
        self.kernels.update(nn_kernels.kernels(cupy))  # convolution and pooling
        self.kernels.update(loss_kernels.kernels(cupy, self.indexing.check))  # nll_loss
        self.kernels.update(seq_kernels.kernels(cupy))  # recurrent layers, cumsum, argsort
        self.kernels.update(norm_kernels.kernels(cupy, erf))  # layer_norm, gelu

    @property
    def device(self) -> str:
        """The device in words (the emulation's label under the test suite's emulation)."""
        if self.emulation:
            return self.emulation
        device = self._cp.cuda.Device()
        try:
            name = self._cp.cuda.runtime.getDeviceProperties(device.id)["name"]
        except Exception:  # the properties' fields vary with CUDA versions
            return f"CUDA device {device.id}"
        return name.decode() if isinstance(name, bytes) else str(name)

    # ------------------------------------------------------------------ arrays
    def from_numpy(self, array: np.ndarray):
        """Copy a host array to the current device (always a new device array)."""
        return self._cp.array(np.asarray(array), copy=True)

    def to_numpy(self, array) -> np.ndarray:
        """Copy a device array to the host (waits for the kernels that produce it), then
        report an index out of bounds that a kernel's device-side check recorded."""
        if isinstance(array, self._cp.ndarray):
            host = self._cp.asnumpy(array)
        else:
            host = np.asarray(array)
        self.indexing.raise_pending()
        return host

    def seed(self, seed: int) -> None:
        self.rng = self._cp.random.RandomState(seed)

    def synchronize(self) -> None:
        """Wait for the device, then report what the device-side index checks found."""
        self._cp.cuda.get_current_stream().synchronize()
        self.indexing.raise_pending()

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

        first_dtype = program.input_types[0][1] if program.input_types else None

        def run(*arrays, out=None):
            if arrays and not any(isinstance(a, cp.ndarray) for a in arrays):
                # Python numbers only (optimizer settings): CuPy needs one array to size
                # the loop ("Loop size is undecided").
                arrays = (cp.asarray(arrays[0], dtype=first_dtype), *arrays[1:])
            if out is None or all(o is None for o in out):
                return kernel(*arrays)
            # CuPy takes all outputs or none: allocate the ones the plan did not hand in.
            # An ElementwiseKernel binds its arguments by reference (unlike CuPy's ufuncs,
            # it copies no input that overlaps an output). Writing into an input that is
            # the very same view is safe (each element is read by its thread before it
            # is written; body() writes input registers' outputs first); a buffer that
            # overlaps an input any other way would be read after being overwritten, so
            # it is not used.
            outs = [cp.empty(s, d) if o is None or _overlaps(cp, o, arrays) else o
                    for o, (s, d) in zip(out, out_types)]
            result = kernel(*arrays, *outs)
            return result if single else tuple(result)

        return run


def _overlaps(cp, buffer, arrays) -> bool:
    """Whether `buffer` shares memory with an argument other than as that very view."""
    for a in arrays:
        if a is buffer or not isinstance(a, cp.ndarray):
            continue
        if a.data.ptr == buffer.data.ptr and a.strides == buffer.strides \
                and a.shape == buffer.shape:
            continue
        if cp.may_share_memory(a, buffer):
            return True
    return False
