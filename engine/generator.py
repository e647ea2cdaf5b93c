"""`gg.Generator`: a random source of its own, as `torch.Generator`.

Tutorials pass one to every draw to make a run reproducible on its own terms
(`g = torch.Generator().manual_seed(2147483647)`, then `torch.randn(27, 27,
generator=g)`, `torch.multinomial(p, 1, generator=g)`, `DataLoader(...,
generator=g)`). A Generator holds a NumPy generator and draws on the host: the numbers
are graphgrad's own (no library shares PyTorch's streams), but the same seed gives the
same numbers on every backend and in every run. Like PyTorch's, a new Generator starts
from a fixed default seed, not from the global one.

Draws with a Generator happen eagerly. Inside a compiled step they raise a
TracingError (the plan's random ops draw from the backend's generator, which
`gg.manual_seed` seeds), rather than freezing one draw into the plan.
"""

from __future__ import annotations

import operator

import numpy as np

from .errors import ArgumentTypeError, TracingError
from .ir import tracing
from .source import user_source

#: torch.Generator().initial_seed()
DEFAULT_SEED = 67280421310721


class Generator:
    """A seeded random source: `gg.Generator().manual_seed(42)`."""

    def __init__(self, device=None):
        if device is not None and not isinstance(device, str) \
                and type(device).__name__ != "device":
            raise ArgumentTypeError(
                f"gg.Generator(device): expected a device such as 'cpu', got "
                f"{type(device).__name__} {device!r:.20}; to seed a generator, write "
                "gg.Generator().manual_seed(seed)", source=user_source())
        self.device = "cpu" if device is None else device
        self.manual_seed(DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        try:
            self._seed = operator.index(seed) % 2 ** 64
        except TypeError:
            raise ArgumentTypeError(f"Generator.manual_seed: the seed must be an int, got "
                                    f"{type(seed).__name__}", source=user_source()) from None
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Re-seed from the operating system's entropy; returns the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy) % 2 ** 63)
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        """The generator's state (an opaque value for `set_state`)."""
        return {"seed": self._seed, "bit_generator": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> Generator:
        self._seed = state["seed"]
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["bit_generator"]
        return self

    def permutation(self, n: int) -> np.ndarray:
        """A random permutation of 0..n-1 (int64), advancing the generator."""
        return self._rng.permutation(int(n)).astype(np.int64)

    def choice(self, n: int, size: int, replace: bool, p: np.ndarray) -> np.ndarray:
        """`size` indices in [0, n) drawn with probabilities `p` (WeightedRandomSampler)."""
        return self._rng.choice(int(n), size=int(size), replace=replace, p=p).astype(np.int64)

    def draw(self, kind: str, shape: tuple, dtype, low: int = 0, high: int = 1) -> np.ndarray:
        """Host samples: `kind` is "rand", "randn", "randint" or "randperm" (as the
        backends' random kernels, same formulas)."""
        if tracing.current is not None:
            raise TracingError(
                f"{kind}(..., generator=...) inside a compiled step: a Generator draws "
                "eagerly; inside gg.compile use the global generator (gg.manual_seed) or "
                "pass the random numbers in as an argument", op=kind, source=user_source())
        rng = self._rng
        if kind == "rand":
            out = rng.random(shape, dtype=np.float64)
        elif kind == "randn":
            out = rng.standard_normal(shape)
        elif kind == "randint":
            out = rng.integers(low, high, shape)
        else:
            out = rng.permutation(shape[0])
        return out.astype(dtype)

    def __repr__(self) -> str:
        return f"<graphgrad.Generator seed={self._seed}>"


def check(generator) -> Generator | None:
    """`generator` itself, or a clear error when it is not a Generator."""
    if generator is not None and not isinstance(generator, Generator):
        raise ArgumentTypeError(f"generator must be a gg.Generator, got "
                                f"{type(generator).__name__}", source=user_source())
    return generator
