"""Second derivatives through LayerNorm (a gradient penalty, a Hessian-vector product).

Oracle: PyTorch 2.13 in float64 on the same inputs (torch differentiates its own
layer_norm backward), and finite differences of graphgrad's first-order gradient via
gg.gradcheck. The fused `layer_norm_backward` op has no derivatives of its own, so with
`create_graph=True` the VJP is written with Tensor ops; these tests fail if that path
is lost (the penalty would raise) or wrong.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
import graphgrad.nn.functional as F

R = np.random.default_rng(0)
X, W, B = R.standard_normal((3, 4, 5)), R.standard_normal(5), R.standard_normal(5)


def _penalty_grads(lib, functional, affine):
    """d/d(x, w, b) of |d loss / dx|^2 for loss = sum(layer_norm(x)^3)."""
    x, w, b = (lib.tensor(a, requires_grad=True) for a in (X, W, B))
    y = functional.layer_norm(x, (5,), w if affine else None, b if affine else None)
    (gx,) = lib.autograd.grad((y ** 3).sum(), [x], create_graph=True)
    (gx ** 2).sum().backward()
    return [t.grad.numpy() for t in ((x, w, b) if affine else (x,))]


@pytest.mark.parametrize("affine", [True, False])
def test_gradient_penalty_matches_torch(affine):
    ours = _penalty_grads(gg, F, affine)
    theirs = _penalty_grads(torch, torch.nn.functional, affine)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def _first_order(x_array):
    """graphgrad's first-order gradient of sum(layer_norm(x)^3) w.r.t. x (fused path)."""
    x = gg.tensor(x_array, requires_grad=True)
    (F.layer_norm(x, (5,), gg.tensor(W), gg.tensor(B)) ** 3).sum().backward()
    return x.grad.numpy()


def test_hessian_vector_product_matches_finite_differences():
    x0, v = X[0], R.standard_normal((4, 5))
    x = gg.tensor(x0, requires_grad=True)
    y = F.layer_norm(x, (5,), gg.tensor(W), gg.tensor(B))
    (gx,) = gg.autograd.grad((y ** 3).sum(), [x], create_graph=True)
    (hvp,) = gg.autograd.grad((gx * gg.tensor(v)).sum(), [x])
    eps, numeric = 1e-6, np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        step = np.zeros_like(x0)
        step[i] = eps
        numeric[i] = ((_first_order(x0 + step) - _first_order(x0 - step)) * v).sum() / (2 * eps)
    np.testing.assert_allclose(hvp.numpy(), numeric, rtol=1e-5, atol=1e-6)
