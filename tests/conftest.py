"""Shared fixtures: every test starts from the same seed and the NumPy backend."""

import numpy as np
import pytest

import graphgrad as gg


@pytest.fixture(autouse=True)
def _seeded():
    gg.manual_seed(0)
    np.random.seed(0)
    gg.set_default_backend("numpy")
    yield
    gg.set_default_backend("numpy")
