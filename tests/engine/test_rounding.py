"""Rounding and the divisions built on it (engine/ops/rounding.py).

Oracle: PyTorch 2.13 on the same inputs, including halves (round half to even), NaN,
the infinities and floats too large to have a fraction; values, dtypes and gradients,
with no NumPy warning escaping; and the compiled plan gives the eager numbers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import graphgrad as gg

VALUES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.7, -2.7, 0.49999997, 3.0, -0.0,
                   np.nan, np.inf, -np.inf, 1e20, -3e9])


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc", "frac"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rounding_matches_pytorch_without_warnings(name, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = getattr(gg, name)(gg.tensor(VALUES.astype(dtype))).numpy()
    theirs = getattr(torch, name)(torch.tensor(VALUES.astype(dtype))).numpy()
    np.testing.assert_array_equal(ours, theirs)
    assert ours.dtype == theirs.dtype


@pytest.mark.parametrize("name", ["fmod", "remainder", "floor_divide"])
@pytest.mark.parametrize("kind", ["int", "float"])
def test_divisions_match_pytorch(name, kind):
    a = np.array([7, -7, 7, -7, 9, 0, -9])
    b = np.array([2, 2, -2, -2, 3, 5, 4])
    if kind == "float":
        a, b = a * 1.25, b * 0.75
    ours = getattr(gg, name)(gg.tensor(a), gg.tensor(b))
    theirs = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")


def test_python_operators():
    x = gg.tensor([7, -7])
    assert (x // 2).tolist() == (torch.tensor([7, -7]) // 2).tolist()
    assert (x % 3).tolist() == (torch.tensor([7, -7]) % 3).tolist()
    assert (10 // gg.tensor([3.0])).tolist() == [3.0]
    np.testing.assert_allclose(gg.round(gg.tensor([2.567, -1.005]), decimals=2).numpy(),
                               torch.round(torch.tensor([2.567, -1.005]), decimals=2).numpy())


@pytest.mark.parametrize("name", ["floor", "round", "frac", "fmod", "remainder"])
def test_gradients_match_pytorch(name):
    a = np.array([1.3, -2.7, 4.5, -0.2])
    b = np.array([0.7, 1.1, -1.9, 0.3])
    binary = name in ("fmod", "remainder")
    ours = [gg.tensor(v, requires_grad=True) for v in (a, b)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (a, b)]
    n = 2 if binary else 1
    getattr(gg, name)(*ours[:n]).sum().backward()
    getattr(torch, name)(*theirs[:n]).sum().backward()
    for x, t in zip(ours[:n], theirs[:n]):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_compiled_rounding_gives_the_eager_numbers():
    f = gg.compile(lambda x: gg.round(x) + gg.floor(x) * 2 + gg.frac(x) + x % 1.5)
    x = gg.tensor(VALUES[:11])
    np.testing.assert_array_equal(f(x).numpy(), (gg.round(x) + gg.floor(x) * 2 + gg.frac(x)
                                                 + x % 1.5).numpy())


def test_integer_division_by_a_constant_tensor_compiles_and_checks_for_zero():
    """A constant divisor made in a traced step is checked on its values (a traced
    comparison of it raised TracingError)."""
    x = gg.tensor([7, -7, 9])
    d = [2, 3, 4]
    step = gg.compile(lambda v: (v // gg.tensor(d), v % gg.tensor(d)))
    quotient, remainder = step(x)
    tx, td = torch.tensor([7, -7, 9]), torch.tensor(d)
    assert quotient.tolist() == (tx // td).tolist()
    assert remainder.tolist() == (tx % td).tolist()
    with pytest.raises(gg.NumericalError, match="division by zero"):
        gg.compile(lambda v: v // gg.tensor([2, 0, 4]))(x)
