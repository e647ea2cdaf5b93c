"""Random ops (rand, randn, randint, randperm) have no samples; their draws are checked.

Oracles: the definitions (shape, dtype, support: [0, 1), [low, high), a permutation),
loose moments over 20 000 draws (mean 1/2 and 0, standard deviation 1, each within
about 7 standard errors), and seeding: the same seed gives the same numbers, another
seed different ones.
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.backends import registry
from graphgrad.backends.conformance.cases import random_ops, selected

pytestmark = pytest.mark.conformance(check="random")

DRAWS = {
    "rand": lambda shape, dtype: gg.rand(*shape, dtype=dtype),
    "randn": lambda shape, dtype: gg.randn(*shape, dtype=dtype),
    "randint": lambda shape, dtype: gg.randint(-3, 5, size=shape),
    "randperm": lambda shape, dtype: gg.randperm(int(np.prod(shape))),
}


@pytest.fixture
def on_backend(backend):
    """Make the backend under test the default one, so the creation functions use it."""
    previous = registry._default_name
    registry.set_default_backend(backend.name)
    yield backend
    registry.set_default_backend(previous)


def test_every_random_op_is_checked():
    unchecked = set(random_ops()) - set(DRAWS)
    assert not unchecked, f"no conformance check for random ops {sorted(unchecked)}"


def _draw(op, shape, dtype="float32"):
    t = DRAWS[op](shape, dtype)
    return t, t.numpy()


@pytest.mark.parametrize("op", selected(DRAWS))
@pytest.mark.parametrize("shape", [(3, 4), (), (0, 5), (20000,)])
def test_shape_dtype_and_support(on_backend, op, shape):
    if op == "randperm":  # one dimension only
        shape = (int(np.prod(shape)),)
    for dtype in (("float32", "float64") if op in ("rand", "randn") else ("int64",)):
        t, a = _draw(op, shape, dtype)
        assert a.shape == t.shape == shape, f"{op}: shape {a.shape}, expected {shape}"
        assert a.dtype == np.dtype(dtype) == t.dtype, f"{op}: dtype {a.dtype}, expected {dtype}"
        assert np.isfinite(a).all()
        if op == "rand":
            assert ((0 <= a) & (a < 1)).all(), f"rand drew outside [0, 1): {a.min()}, {a.max()}"
        if op == "randint":
            assert ((-3 <= a) & (a < 5)).all(), f"randint drew outside [-3, 5): {a.min()} {a.max()}"
        if op == "randperm":
            assert np.array_equal(np.sort(a), np.arange(a.size)), "randperm is no permutation"


MOMENTS = {"rand": (0.5, 12 ** -0.5), "randn": (0.0, 1.0),
           "randint": (0.5, (64 - 1) ** 0.5 / 12 ** 0.5)}


@pytest.mark.parametrize("op, mean, std", [(op, *MOMENTS[op]) for op in selected(MOMENTS)])
def test_moments(on_backend, op, mean, std):
    a = _draw(op, (20000,), "float64")[1].astype(np.float64)
    se = std / np.sqrt(a.size)
    assert abs(a.mean() - mean) < 7 * se, f"{op}: mean {a.mean():.4f}, expected {mean}"
    assert abs(a.std() - std) < 0.05 * std, f"{op}: std {a.std():.4f}, expected {std:.4f}"
    if op == "randint":
        assert set(np.unique(a)) == set(range(-3, 5)), "randint never drew some values"


@pytest.mark.parametrize("op", selected(DRAWS))
def test_seeding(on_backend, op):
    def two_draws(seed):
        on_backend.seed(seed)
        return _draw(op, (50,))[1], _draw(op, (50,))[1]

    first, second = two_draws(123)
    again = two_draws(123)
    other = two_draws(124)
    assert np.array_equal(first, again[0]) and np.array_equal(second, again[1]), \
        f"{op}: the same seed gave different numbers"
    assert not np.array_equal(first, second), f"{op}: consecutive draws were equal"
    assert not np.array_equal(first, other[0]), f"{op}: seeds 123 and 124 drew the same"
