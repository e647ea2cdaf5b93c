"""Deliberately broken copies of the NumPy backend, for tests of the conformance suite.

Loaded by the suite as `--backend broken_backends:<Class>` (the plugin registers the
class with `graphgrad.backends.register`). Each class plants one realistic bug, the
kind a backend author makes: `MUTANTS` lists them with the part of the suite (a
pytest -k expression) that must catch each (test_conformance_mutants.py).
"""

import numpy as np

from graphgrad.backends.cupy_backend import _array_kernels, _elementwise_kernels
from graphgrad.backends.numpy_backend import NumpyBackend
from graphgrad.errors import BackendError
from graphgrad.ops.shape import index_tuple


def _mutant(name, doc, **kernels):
    """A NumpyBackend subclass whose kernels `kernels` replace the NumPy ones."""
    def __init__(self):
        NumpyBackend.__init__(self)
        self.kernels.update({op: (k(self) if getattr(k, "needs_self", False) else k)
                             for op, k in kernels.items()})
    return type(name, (NumpyBackend,), {"name": name.lower(), "__doc__": doc,
                                        "__init__": __init__})


class WrongDtype(NumpyBackend):
    """exp computes in float64 and returns float64 for float32 operands."""

    name = "wrong_dtype"

    def __init__(self):
        super().__init__()
        self.kernels["exp"] = lambda x: np.exp(x.astype(np.float64))


class WrongVJP(NumpyBackend):
    """index's backward kernel assigns instead of accumulating: repeated indices lose
    all but one of their gradient contributions (a classic scatter bug)."""

    name = "wrong_vjp"

    def __init__(self):
        super().__init__()
        self.kernels["index_backward"] = self._index_backward

    @staticmethod
    def _index_backward(g, *arrays, spec, shape):
        out = np.zeros(shape, dtype=g.dtype)
        out[index_tuple(spec, arrays)] = g
        return out


class Declaring(WrongDtype):
    """Broken exp, but declared: exp an expected failure, erf and float64 unsupported."""

    name = "declaring"
    unsupported_ops = frozenset({"erf"})
    unsupported_dtypes = frozenset({"float64"})
    expected_failures = {"exp": "computes in float64 (known)"}

    def from_numpy(self, array):
        if array.dtype == np.float64:
            raise BackendError("backend 'declaring' does not support float64")
        return super().from_numpy(array)


# ---------------------------------------------------------------------- the compiled path

class SpecializeDropsKeepdims(NumpyBackend):
    """specialize's sum ignores keepdims (compiled `s.T @ s` silently returns shape ())."""

    name = "specialize_drops_keepdims"

    def specialize(self, op, arg_types, attrs):
        if op == "sum":
            axis = attrs["axis"]
            return lambda x: np.add.reduce(x, axis=axis)
        return super().specialize(op, arg_types, attrs)


class SpecializePermuteAsTranspose(NumpyBackend):
    """specialize's permute returns `.T` whatever the axes (right for 2-d only)."""

    name = "specialize_permute_as_transpose"

    def specialize(self, op, arg_types, attrs):
        if op == "permute":
            return lambda x: x.T
        return super().specialize(op, arg_types, attrs)


class SpecializeMatmulAsDot(NumpyBackend):
    """specialize binds np.dot for every float matmul, batched ones too (np.dot is not
    matmul beyond 2-d)."""

    name = "specialize_matmul_as_dot"

    def specialize(self, op, arg_types, attrs):
        if op == "matmul" and all(np.dtype(d).kind == "f" for _, d in arg_types):
            return np.dot
        return super().specialize(op, arg_types, attrs)


class FromNumpyAliases(NumpyBackend):
    """from_numpy returns the caller's array itself (`model.to(...)` then does nothing)."""

    name = "from_numpy_aliases"

    def from_numpy(self, array):
        return np.asarray(array)


class FusedOutOverwritesInput(NumpyBackend):
    """The fused kernel writes each output into its out= buffer as soon as it is
    computed, though a later step still reads the input that buffer is."""

    name = "fused_out_overwrites_input"

    def compile_fused(self, program):
        steps = [(self.kernels[s.op], s.args, s.attrs) for s in program.steps]
        n_in, outputs = program.n_inputs, list(program.outputs)

        def run(*arrays, out=None):
            regs = list(arrays) + [None] * len(steps)
            for i, (kernel, args, attrs) in enumerate(steps):
                value = kernel(*[regs[a] for a in args], **attrs)
                r = n_in + i
                if out is not None and r in outputs and out[outputs.index(r)] is not None:
                    buffer = out[outputs.index(r)]
                    buffer[...] = value
                    value = buffer
                regs[r] = value
            results = tuple(regs[o] for o in outputs)
            return results[0] if len(results) == 1 else results

        return run


class ViewsCopy(NumpyBackend):
    """views() returns copies of the flat buffer's parts, not views."""

    name = "views_copy"

    def views(self, flat, shapes):
        return [v.copy() for v in super().views(flat, shapes)]


class PackAliasesOne(NumpyBackend):
    """pack of a single array returns a view of it (a 'fast path')."""

    name = "pack_aliases_one"

    def pack(self, arrays):
        return np.ravel(arrays[0]) if len(arrays) == 1 else super().pack(arrays)


class ColumnMajorTransposes(NumpyBackend):
    """column_major returns the transpose (stored row-major) instead of the values in
    column-major order."""

    name = "column_major_transposes"

    def column_major(self, array):
        return np.ascontiguousarray(array.T)


class FusedComputesFloat64(NumpyBackend):
    """The fused kernel computes in float64 and forgets to cast back."""

    name = "fused_computes_float64"

    def compile_fused(self, program):
        inner = super().compile_fused(program)

        def run(*arrays, out=None):
            wide = [a.astype(np.float64) if getattr(a, "dtype", None) == np.float32 else a
                    for a in arrays]
            return inner(*wide)

        return run


# ---------------------------------------------------------------------- arrays

class ToNumpyScalar(NumpyBackend):
    """to_numpy of a 0-d array returns a NumPy scalar, not an ndarray."""

    name = "to_numpy_scalar"

    def to_numpy(self, array):
        array = np.asarray(array)
        return array[()] if array.ndim == 0 else array


class SeedIgnored(NumpyBackend):
    """seed() does nothing: gg.manual_seed does not make runs repeatable."""

    name = "seed_ignored"

    def seed(self, seed):
        pass


def _relu_in_place(x):
    return np.maximum(x, 0, out=x) if x.dtype.kind == "f" else np.maximum(x, 0).astype(x.dtype)


def _sum_python_float(x, axis, keepdims):
    out = np.add.reduce(x, axis=axis, keepdims=keepdims)
    return out.item() if np.ndim(out) == 0 else out


def _mul_needs_arrays(a, b):
    return np.multiply(a, b.astype(a.dtype))


def _gather_backward_assigns(g, idx, axis, shape):
    out = np.zeros(shape, dtype=g.dtype)
    np.put_along_axis(out, idx, g, axis)  # duplicates: the last wins instead of adding up
    return out


def _softmax_unshifted(x, axis):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def _randint_inclusive(self):
    return lambda shape, dtype, low, high: self.rng.integers(low, high + 1, shape).astype(dtype)


_randint_inclusive.needs_self = True

MUTANT_KERNELS = {
    "ReluInPlace": ("relu writes its result into its input", {"relu": _relu_in_place}),
    "SumPythonFloat": ("sum returns a Python float for 0-d results",
                       {"sum": _sum_python_float}),
    "MulNeedsArrays": ("mul calls .astype on its second operand (a Python float crashes it)",
                       {"mul": _mul_needs_arrays}),
    "GatherBackwardAssigns": ("gather_backward assigns: repeated indices lose gradient",
                              {"gather_backward": _gather_backward_assigns}),
    "SoftmaxUnshifted": ("softmax without subtracting the max: large logits overflow",
                         {"softmax": _softmax_unshifted}),
    "LogSoftmaxLastAxis": ("log_softmax always normalizes the last axis",
                           {"log_softmax": lambda x, axis: _softmax_log_last(x)}),
    "MaxDropsKeepdims": ("max ignores keepdims",
                         {"max": lambda x, axis, keepdims: np.maximum.reduce(x, axis=axis)}),
    "ArgmaxInt32": ("argmax returns int32", {"argmax": lambda x, axis, keepdims: np.asarray(
        np.argmax(x, axis=axis, keepdims=keepdims)).astype(np.int32)}),
    "MatmulAsDot": ("matmul is np.dot (wrong for batched operands)", {"matmul": np.dot}),
    "MaximumIgnoresNaN": ("maximum is np.fmax: NaN does not propagate",
                          {"maximum": np.fmax}),
    "ClampNeedsBothBounds": ("clamp cannot take a missing bound (None)", {
        "clamp": lambda x, min, max: np.minimum(np.maximum(x, min), max).astype(x.dtype)}),
    "ConcatFirstAxis": ("concat ignores axis", {
        "concat": lambda *xs, axis: np.concatenate(xs, axis=0)}),
    "AbsFloatForInts": ("abs is np.fabs: int64 operands give float64", {"abs": np.fabs}),
    "OneHotFloat": ("one_hot returns float64", {
        "one_hot": lambda idx, num_classes: np.eye(num_classes)[idx]}),
    "RandintInclusive": ("randint draws from [low, high] instead of [low, high)",
                         {"randint": _randint_inclusive}),
    "IdentityReturnsInput": ("identity returns its operand instead of a copy",
                             {"identity": lambda x: x}),
    "CastNeedsArray": ("cast calls .astype: a learning rate (a Python float) crashes it",
                       {"cast": lambda x, dtype: x.astype(dtype)}),
    "CastKeepsDtype": ("cast returns its input unchanged when asked for bool", {
        "cast": lambda x, dtype: x if np.dtype(dtype) == bool else x.astype(dtype)}),
}


def _softmax_log_last(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


for _name, (_doc, _kernels) in MUTANT_KERNELS.items():
    globals()[_name] = _mutant(_name, _doc, **_kernels)


class ZeroDAsPythonNumbers(NumpyBackend):
    """Every kernel turns a 0-d result into a Python number (`.item()`): one contract
    mistake that fails many ops."""

    name = "zero_d_as_python_numbers"

    def __init__(self):
        super().__init__()
        self.kernels = {op: self._unwrapping(k) for op, k in self.kernels.items()}

    @staticmethod
    def _unwrapping(kernel):
        def run(*args, **attrs):
            out = kernel(*args, **attrs)
            return out.item() if np.ndim(out) == 0 else out
        return run


class CupyKernelTable(NumpyBackend):
    """Not broken: the CuPy backend's elementwise and array kernels with NumPy as their
    array module (its indexing kernels need CuPy's RawKernels: the CuPy emulation,
    tests/cupy_emulation, runs those)."""

    name = "cupy_kernel_table"

    def __init__(self):
        super().__init__()
        numpy_kernels = dict(self.kernels)
        self.kernels.update({**_elementwise_kernels(np, numpy_kernels["erf"],
                                                    numpy_kernels["sigmoid"]),
                             **_array_kernels(np)})
