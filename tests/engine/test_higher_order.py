"""Higher-order derivatives: create_graph, nested gg.func transforms, Hessians, HVPs.

Oracles: hand-derived derivatives (the seed's f(x1, x2) = log(x1) + x1*x2 - sin(x2)
has Hessian [[-1/x1², 1], [1, sin(x2)]]; d²(x³)/dx² = 6x); central finite differences
of the gradient for the Hessian of a small MLP's loss w.r.t. its last layer; the full
Hessian times v for Hessian-vector products; and forward- against reverse-mode
Jacobians over every op's samples.
"""

import math

import numpy as np
import pytest
from gg_reference import op_cases, to_tensor

import graphgrad as gg


def seed_f(x1, x2):
    return gg.log(x1) + x1 * x2 - gg.sin(x2)


def _f64(*values):
    return [gg.tensor(v, dtype="float64") for v in values]


@pytest.mark.parametrize("x1, x2", [(2.0, 5.0), (0.5, -1.3)])
def test_seed_hessian_by_hand(x1, x2):
    expected = np.array([[-1 / x1 ** 2, 1.0], [1.0, math.sin(x2)]])
    blocks = gg.func.hessian(seed_f, (0, 1))(*_f64(x1, x2))
    got = np.array([[b.item() for b in row] for row in blocks])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    stacked = gg.func.hessian(lambda u: seed_f(u[0], u[1]))(gg.tensor([x1, x2], dtype="float64"))
    assert stacked.shape == (2, 2) and not stacked.requires_grad
    np.testing.assert_allclose(stacked.numpy(), expected, rtol=1e-12)


def test_backward_with_create_graph_gives_second_derivatives():
    x1, x2 = (gg.tensor(v, dtype="float64", requires_grad=True) for v in (2.0, 5.0))
    seed_f(x1, x2).backward(create_graph=True)
    g1, g2 = x1.grad, x2.grad
    assert g1.requires_grad and g1.grad_fn is not None
    assert g1.item() == pytest.approx(5.5) and g2.item() == pytest.approx(2 - math.cos(5))
    x1.grad = x2.grad = None
    g2.backward()
    assert x1.grad.item() == pytest.approx(1.0)
    assert x2.grad.item() == pytest.approx(math.sin(5))
    x = gg.tensor(3.0, dtype="float64", requires_grad=True)
    (gx,) = gg.autograd.grad(x ** 3, x, create_graph=True)
    (gxx,) = gg.autograd.grad(gx, x, create_graph=True)
    (gxxx,) = gg.autograd.grad(gxx, x)
    assert (gx.item(), gxx.item(), gxxx.item()) == (27.0, 18.0, 6.0)


def test_grad_composes_with_itself_and_with_jvp():
    x = gg.tensor(0.8, dtype="float64")
    d = gg.func.grad
    assert d(gg.sin)(x).item() == pytest.approx(math.cos(0.8), rel=1e-14)
    assert d(d(gg.sin))(x).item() == pytest.approx(-math.sin(0.8), rel=1e-14)
    assert d(d(d(lambda u: u ** 4)))(x).item() == pytest.approx(24 * 0.8, rel=1e-14)
    # forward over reverse and reverse over forward
    jvp_of_grad = gg.func.jvp(d(lambda u: u ** 3), (x,), (1.0,))[1]
    grad_of_jvp = d(lambda u: gg.func.jvp(lambda v: v ** 3, (u,), (1.0,))[1])(x)
    assert jvp_of_grad.item() == pytest.approx(6 * 0.8, rel=1e-14)
    assert grad_of_jvp.item() == pytest.approx(6 * 0.8, rel=1e-14)
    # a top-level grad returns plain tensors
    assert not d(gg.sin)(x).requires_grad


def test_grad_options():
    a, b = _f64(2.0, 5.0)
    ga, gb = gg.func.grad(seed_f, argnums=(0, 1))(a, b)
    assert ga.item() == pytest.approx(5.5) and gb.item() == pytest.approx(2 - math.cos(5))
    value, g = gg.func.value_and_grad(seed_f)(a, b)
    assert value.item() == pytest.approx(math.log(2) + 10 - math.sin(5))
    g_aux, aux = gg.func.grad(lambda u: (u * u, "aux"), has_aux=True)(a)
    assert g_aux.item() == 4.0 and aux == "aux"
    with pytest.raises(gg.AutogradError, match="one element"):
        gg.func.grad(lambda u: u * 2)(gg.ones(3))
    with pytest.raises(gg.AutogradError, match="floating-point"):
        gg.func.grad(lambda u: u.sum())(gg.tensor([1, 2]))


def test_grad_keeps_history_when_parameters_require_grad():
    w = gg.tensor(3.0, dtype="float64", requires_grad=True)
    g = gg.func.grad(lambda x: (w * x) ** 2)(gg.tensor(2.0, dtype="float64"))
    assert g.item() == 2 * 3.0 ** 2 * 2.0 and g.requires_grad  # d/dx = 2 w² x
    g.backward()
    assert w.grad.item() == 4 * 3.0 * 2.0  # d/dw (2 w² x) = 4 w x


def test_vjp_transform():
    x = gg.tensor([1.0, 2.0, 3.0], dtype="float64")
    out, vjp_fn = gg.func.vjp(lambda a: a * a, x)
    assert out.tolist() == [1.0, 4.0, 9.0] and not out.requires_grad
    (g,) = vjp_fn(gg.tensor([1.0, 0.5, 0.0], dtype="float64"))
    assert g.tolist() == [2.0, 2.0, 0.0]


# ---------------------------------------------------------------------- a small MLP

def _mlp_problem():
    rng = np.random.default_rng(4)
    x = gg.tensor(rng.standard_normal((6, 4)), dtype="float64")
    y = gg.tensor(rng.standard_normal((6, 3)), dtype="float64")
    w1 = gg.tensor(rng.standard_normal((4, 5)), dtype="float64")
    w2 = gg.tensor(rng.standard_normal((5, 3)), dtype="float64")

    def loss(w1, w2):
        pred = gg.tanh(gg.relu(x @ w1) @ w2)
        return ((pred - y) ** 2).mean()

    return loss, w1, w2


def _eager_grad_w2(loss, w1, w2_array):
    w2 = gg.tensor(w2_array, dtype="float64", requires_grad=True)
    loss(w1, w2).backward()
    return w2.grad.numpy()


def test_mlp_hessian_wrt_last_layer_matches_finite_differences_of_the_gradient():
    loss, w1, w2 = _mlp_problem()
    hess = gg.func.hessian(lambda w: loss(w1, w))(w2)
    assert hess.shape == (5, 3, 5, 3)
    base, eps = w2.numpy(), 1e-5
    numerical = np.zeros((15, 15))
    for j in range(15):
        step = np.zeros(15)
        step[j] = eps
        plus = _eager_grad_w2(loss, w1, base + step.reshape(5, 3))
        minus = _eager_grad_w2(loss, w1, base - step.reshape(5, 3))
        numerical[:, j] = ((plus - minus) / (2 * eps)).reshape(-1)
    h = hess.numpy().reshape(15, 15)
    np.testing.assert_allclose(h, numerical, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(h, h.T, atol=1e-14)


def test_hvp_matches_hessian_times_v():
    loss, w1, w2 = _mlp_problem()
    rng = np.random.default_rng(5)
    v = gg.tensor(rng.standard_normal((5, 3)), dtype="float64")
    value, hv = gg.func.hvp(lambda w: loss(w1, w), w2, v)
    hess = gg.func.hessian(lambda w: loss(w1, w))(w2).numpy().reshape(15, 15)
    assert value.item() == pytest.approx(loss(w1, w2).item(), rel=1e-14)
    assert hv.shape == (5, 3)
    np.testing.assert_allclose(hv.numpy().reshape(-1), hess @ v.numpy().reshape(-1),
                               rtol=1e-10, atol=1e-13)
    # both layers at once, against the full Hessian of both
    vs = [gg.tensor(rng.standard_normal(w.shape), dtype="float64") for w in (w1, w2)]
    _, (hv1, hv2) = gg.func.hvp(loss, (w1, w2), tuple(vs))
    blocks = gg.func.hessian(loss, (0, 1))(w1, w2)
    full = np.block([[blocks[i][j].numpy().reshape(w.numel(), u.numel())
                      for j, u in enumerate((w1, w2))] for i, w in enumerate((w1, w2))])
    flat_v = np.concatenate([t.numpy().reshape(-1) for t in vs])
    np.testing.assert_allclose(np.concatenate([hv1.numpy().reshape(-1), hv2.numpy().reshape(-1)]),
                               full @ flat_v, rtol=1e-10, atol=1e-13)


def test_seed_hvp_by_hand():
    a, b = _f64(2.0, 5.0)
    _, (h1, h2) = gg.func.hvp(seed_f, (a, b), (1.0, 2.0))
    assert h1.item() == pytest.approx(-0.25 + 2.0)
    assert h2.item() == pytest.approx(1.0 + 2 * math.sin(5.0))


# ---------------------------------------------------------------------- Jacobians

def _small(sample):
    return sum(np.size(sample.args[i]) for i in sample.diff) <= 24


@pytest.mark.parametrize("op, sample", [c for c in op_cases(differentiable=True, with_diff=True)
                                        if _small(c.values[1])])
def test_forward_and_reverse_jacobians_agree(op, sample):
    inputs = [to_tensor(a, np.float64) for a in sample.args]
    fn = lambda *xs: op(*xs, **sample.kwargs)  # noqa: E731
    forward = gg.func.jacobian(fn, tuple(sample.diff), mode="forward")(*inputs)
    reverse = gg.func.jacobian(fn, tuple(sample.diff), mode="reverse")(*inputs)
    for f, r, i in zip(forward, reverse, sample.diff):
        out_shape = fn(*inputs).shape
        assert f.shape == r.shape == out_shape + inputs[i].shape
        np.testing.assert_allclose(f.numpy(), r.numpy(), rtol=1e-12, atol=1e-14)


def test_jacobian_by_hand_and_auto_mode_choice():
    x = gg.tensor([0.3, -1.2], dtype="float64")
    jac = gg.func.jacobian(lambda a: gg.stack([a[0] * a[1], gg.sin(a[0]), a[1] ** 2]))(x)
    expected = [[-1.2, 0.3], [math.cos(0.3), 0.0], [0.0, -2.4]]
    np.testing.assert_allclose(jac.numpy(), expected, rtol=1e-14)

    def phases(fn, n):
        graph = gg.trace(lambda a: gg.func.jacobian(fn)(a), gg.Spec((n,), "float64"))
        return set(graph.nodes_by_phase())

    few_in_many_out = phases(lambda a: (a.reshape(2, 1) * gg.ones(2, 5, dtype="float64")), 2)
    many_in_few_out = phases(lambda a: (a * a).sum(0, keepdim=True), 6)
    assert "tangent" in few_in_many_out and "backward" not in few_in_many_out
    assert "backward" in many_in_few_out and "tangent" not in many_in_few_out
    with pytest.raises(gg.AutogradError, match="mode"):
        gg.func.jacobian(gg.sin, mode="sideways")
