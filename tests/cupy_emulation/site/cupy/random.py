"""CPU EMULATION of `cupy.random`: its own generator (Philox, unlike NumPy's default
PCG64), so nothing can assume the NumPy backend's numbers; seeded draws repeat."""

import numpy as np

from ._array import ndarray


class RandomState:
    def __init__(self, seed=None):
        self.seed(seed)

    def seed(self, seed=None):
        self._g = np.random.Generator(np.random.Philox(seed))

    def random_sample(self, size=None, dtype=float):
        return ndarray(np.asarray(self._g.random(size, dtype=np.dtype(dtype))))

    def rand(self, *size, dtype=float):
        return self.random_sample(size, dtype)

    def standard_normal(self, size=None, dtype=float):
        return ndarray(np.asarray(self._g.standard_normal(size, dtype=np.dtype(dtype))))

    def randn(self, *size, dtype=float):
        return self.standard_normal(size, dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        return ndarray(np.asarray(self._g.normal(loc, scale, size).astype(dtype)))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        return ndarray(np.asarray(self._g.uniform(low, high, size).astype(dtype)))

    def randint(self, low, high=None, size=None, dtype=int):
        return ndarray(np.asarray(self._g.integers(low, high, size, dtype=dtype)))

    def permutation(self, num):
        return ndarray(np.asarray(self._g.permutation(num)))


_global = RandomState()


def seed(s=None):
    _global.seed(s)


def rand(*size, dtype=float):
    return _global.rand(*size, dtype=dtype)


def randn(*size, dtype=float):
    return _global.randn(*size, dtype=dtype)
