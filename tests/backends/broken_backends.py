"""Deliberately broken copies of the NumPy backend, for tests of the conformance suite.

Loaded by the suite as `--backend broken_backends:<Class>` (the plugin registers the
class with `graphgrad.backends.register`).
"""

import numpy as np

from graphgrad.backends.numpy_backend import NumpyBackend


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
        from graphgrad.ops.shape import index_tuple

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
            from graphgrad.errors import BackendError

            raise BackendError("backend 'declaring' does not support float64")
        return super().from_numpy(array)
