"""Examples run with `--backend numba` (the issue's promise: every example does).

Oracle: the example's own results on the NumPy backend from the same seed (compiled
training on numba must give NumPy's numbers to float32 tolerance). Only quick examples
run here; every example was also run by hand with `--backend numba --epochs 1`."""

import sys
from numbers import Number
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _numbers(result, prefix=""):
    """{path: value} of every number or array in a nested result (other objects left)."""
    if isinstance(result, dict):
        return {k: v for key, item in result.items()
                for k, v in _numbers(item, f"{prefix}{key}.").items()}
    if isinstance(result, (list, tuple)):
        return {k: v for i, item in enumerate(result)
                for k, v in _numbers(item, f"{prefix}{i}.").items()}
    if isinstance(result, (Number, np.ndarray, np.generic)) and not isinstance(result, bool):
        return {prefix: result}
    return {}


@pytest.mark.parametrize("name", ["temperature", "two_layer_nn"])
def test_example_on_numba_matches_numpy(tmp_path, name):
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    script = __import__(name)
    args = ["--epochs", "20", "--out", str(tmp_path)]
    on_numba = _numbers(script.main(["--backend", "numba"] + args))
    on_numpy = _numbers(script.main(["--backend", "numpy"] + args))
    assert on_numba.keys() == on_numpy.keys() and on_numpy
    for key, want in on_numpy.items():
        np.testing.assert_allclose(on_numba[key], want, rtol=1e-4, atol=1e-6, err_msg=key)
