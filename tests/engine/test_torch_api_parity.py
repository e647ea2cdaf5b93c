"""API details where graphgrad read PyTorch's calls differently (issue 25).

Oracle: PyTorch 2.13 on the same inputs: `torch.var(x, True)` (a bool second positional
is `unbiased`), `take_along_dim` without `dim` (on the flattened tensor), and the
gradient of `std` where every value is the same (0, not NaN; NaN stays NaN where
there are too few values), eager and compiled.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphgrad as gg

X = np.random.default_rng(0).standard_normal((3, 4))


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("unbiased", [True, False])
def test_a_bool_second_argument_is_unbiased(fn, unbiased):
    want = getattr(torch, fn)(torch.tensor(X), unbiased).item()
    assert getattr(gg, fn)(gg.tensor(X), unbiased).item() == pytest.approx(want, rel=1e-12)
    assert getattr(gg.tensor(X), fn)(unbiased).item() == pytest.approx(want, rel=1e-12)
    # an int is still a dim, as in PyTorch
    np.testing.assert_allclose(getattr(gg.tensor(X), fn)(1).numpy(),
                               getattr(torch.tensor(X), fn)(1).numpy(), rtol=1e-12)


def test_take_along_dim_without_dim_uses_the_flattened_tensor():
    idx = np.array([[0, 5], [11, 3]])
    want = torch.take_along_dim(torch.tensor(X), torch.tensor(idx))
    got = gg.take_along_dim(gg.tensor(X), gg.tensor(idx))
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(gg.tensor(X).take_along_dim(gg.tensor(idx)).numpy(),
                                  want.numpy())
    np.testing.assert_array_equal(
        gg.take_along_dim(gg.tensor(X), gg.tensor([[0], [2], [1]]), 1).numpy(),
        torch.take_along_dim(torch.tensor(X), torch.tensor([[0], [2], [1]]), 1).numpy())


@pytest.mark.parametrize("shape,dim", [((4,), None), ((4, 3), 0), ((2, 5), 1)])
def test_std_of_identical_values_has_torchs_zero_gradient(shape, dim):
    x = gg.full(shape, 3.0, dtype=gg.float64, requires_grad=True)
    tx = torch.full(shape, 3.0, dtype=torch.float64, requires_grad=True)
    (x.std() if dim is None else x.std(dim)).sum().backward()
    (tx.std() if dim is None else tx.std(dim)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    assert not np.isnan(x.grad.numpy()).any()


def test_std_gradient_elsewhere_and_nan_where_torch_has_nan():
    x, tx = gg.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    x.std(1).sum().backward()
    tx.std(1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    one = gg.tensor([2.0], dtype=gg.float64, requires_grad=True)
    with pytest.warns(UserWarning):
        tone = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
        tone.std().backward()
    with pytest.warns(UserWarning, match="degrees of freedom"):  # (as torch warns)
        s = one.std()
    with np.errstate(invalid="ignore"):  # (NaN's own arithmetic in the backward)
        s.backward()
    assert np.isnan(s.item()) and np.isnan(tone.grad.item()) and np.isnan(one.grad.item())


def test_std_gradient_compiled_equals_eager():
    @gg.compile
    def step(x):
        s = x.std(0).sum()
        s.backward()
        return s

    x = gg.tensor(np.vstack([X[:1], X[:1], X[:1]]), requires_grad=True)  # column spread 0
    step(x)
    tx = torch.tensor(x.numpy(), requires_grad=True)
    tx.std(0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
