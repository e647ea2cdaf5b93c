"""Every example trains compiled on `--backend cupy` as on NumPy: under the CPU emulation of
CuPy (`[cupy-emulated]`) and, marked gpu, on a real device (`[cupy-gpu]`).

Oracle: the same example on the NumPy backend, with the same initial weights (the
emulated backend draws, for this test only, from the NumPy backend's generator stream,
so `gg.manual_seed` gives both the same numbers), compared to float32 tolerance. The
emulation runs the CuPy backend's code paths, generated kernels included; it says
nothing about a GPU. (The real-GPU version of this comparison is benchmarks/gpu_check.sh.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from cupy_emulation import fixtures

from graphgrad.backends.cupy_backend import CupyBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from example_helpers import example  # noqa: E402 (the examples' folder goes first)

cupy_backend = fixtures.cupy_backend  # the fixture (emulated, and on a GPU where present)

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
#: example -> its fast options (what the example tests use, or fewer epochs); an example
#: not named here (added since) runs with `--epochs 1`.
FAST = {
    "autodiff_basics": ["--epochs", "20"],
    "linear_erm": ["--steps", "50", "--epochs", "2"],
    "two_layer_nn": ["--steps", "50", "--epochs", "2"],
    "temperature": ["--epochs", "300"],
}
EXAMPLES = sorted(p.stem for p in EXAMPLES_DIR.glob("*.py") if not p.stem.startswith("_"))


TIMINGS = {"seconds", "time", "elapsed"}  # wall-clock figures: not results


class NumpyStream:
    """A cupy.random.RandomState look-alike drawing NumPy's default_rng(seed) stream the way
    the NumPy backend does (float64, then cast), returning device arrays."""

    def __init__(self, cp, seed=None):
        self.cp, self.g = cp, np.random.default_rng(seed)

    def random_sample(self, shape, dtype):
        return self.cp.asarray(self.g.random(shape, dtype=np.float64))

    def standard_normal(self, shape, dtype):
        return self.cp.asarray(self.g.standard_normal(shape))

    def randint(self, low, high, size, dtype):
        return self.cp.asarray(self.g.integers(low, high, size))

    def permutation(self, n):
        return self.cp.asarray(self.g.permutation(n))


@pytest.fixture
def cupy_with_numpy_stream(cupy_backend, monkeypatch):
    cp = cupy_backend._cp
    monkeypatch.setattr(CupyBackend, "seed",
                        lambda self, seed: setattr(self, "rng", NumpyStream(cp, seed)))
    return cupy_backend


def tolerance(key: str) -> dict:
    """float32 tolerance for what training computes. Held-out figures get 1%: a weight
    whose gradient is only rounding noise (a conv bias before BatchNorm) takes Adam steps
    of full size in a direction that noise decides, and reaches the held-out loss through
    the running statistics; an accuracy may flip a borderline sample or two."""
    if "test" in key or "acc" in key:
        return dict(rtol=1e-2, atol=1e-2)
    return dict(rtol=2e-4, atol=1e-5)


def scalars(result, prefix=""):
    """The numbers of an example's result dict, flattened: {path: float}."""
    out = {}
    items = result.items() if isinstance(result, dict) else enumerate(result)
    for k, v in items:
        if isinstance(v, (dict, list, tuple)):
            out.update(scalars(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float, np.number)) and not isinstance(v, bool) \
                and k not in TIMINGS:
            out[f"{prefix}{k}"] = float(v)
    return out


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_on_cupy_matches_numpy(cupy_with_numpy_stream, name, tmp_path, capsys):
    module = example(name)
    options = FAST.get(name, ["--epochs", "1"]) + ["--out", str(tmp_path)]
    want = scalars(module.main(["--backend", "numpy", *options]))
    got = scalars(module.main(["--backend", "cupy", *options]))
    capsys.readouterr()
    assert got.keys() == want.keys() and want
    for key in want:
        np.testing.assert_allclose(got[key], want[key], err_msg=key, **tolerance(key))
