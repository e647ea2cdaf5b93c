"""Functional corners checked against PyTorch 2.13: softmin's implicit dim,
cosine_similarity's broadcasting and clamped norms, softmax's dtype=, and the shape
checks of flatten, t() and expand.

Oracle: torch.nn.functional on the same float32 values; outputs and input gradients to
rtol 1e-5, errors where torch raises.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import graphgrad as gg
from graphgrad import nn
from graphgrad.nn import functional as F


def _pair(a):
    a = np.asarray(a, np.float32)
    return gg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("shape", [(2, 3), (3,), (2, 3, 4), (2, 3, 2, 2)])
def test_softmin_without_dim_takes_softmaxs_implicit_dim(shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    want = TF.softmin(torch.tensor(x), dim=0 if len(shape) in (1, 3) else 1)
    np.testing.assert_allclose(F.softmin(gg.tensor(x)).numpy(), want.numpy(), rtol=1e-6)
    np.testing.assert_allclose(nn.Softmin()(gg.tensor(x)).numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("a, b, dim, eps", [
    ((3, 1), (1, 1), 0, 1e-8),        # dim is a broadcast dimension
    ((2, 3, 3), (3, 3), 1, 1e-8),     # different ranks
    ((4, 5), (4, 5), 1, 1e-8),
    ([[1e-3, 0.0]], [[3.0, 0.0]], 1, 1e-2),  # a norm below eps: each norm clamped alone
    ([[0.0, 0.0]], [[3.0, 4.0]], 1, 1e-8),   # a zero vector
])
def test_cosine_similarity_matches_torch_values_and_gradients(a, b, dim, eps):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(a) if isinstance(a, tuple) else a
    b = rng.standard_normal(b) if isinstance(b, tuple) else b
    (ga, ta), (gb, tb) = _pair(a), _pair(b)
    ours, theirs = F.cosine_similarity(ga, gb, dim, eps), TF.cosine_similarity(ta, tb, dim, eps)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5,
                               atol=1e-7)
    ours.sum().backward()
    theirs.sum().backward()
    for g, t in ((ga, ta), (gb, tb)):
        np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "softmin"])
def test_softmax_family_takes_a_dtype(fn):
    x = np.array([[1, 2, 3]], np.float32)
    ours = getattr(F, fn)(gg.tensor(x), dim=1, dtype=gg.float64)
    theirs = getattr(TF, fn)(torch.tensor(x), dim=1, dtype=torch.float64)
    assert ours.dtype == gg.float64
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("call", [
    lambda lib, x: lib.nn.Flatten(2, 1)(x),
    lambda lib, x: x.flatten(1, 0),
    lambda lib, x: x.t(),
    lambda lib, x: x.sum((0, 1)).expand(-1, 2),
])
def test_shape_calls_torch_refuses_are_refused(call):
    with pytest.raises(RuntimeError):
        call(torch, torch.zeros(3, 5, 2))
    with pytest.raises(gg.ShapeError):
        call(gg, gg.zeros(3, 5, 2))


def test_broadcast_tensors_and_expand_as_torch():
    a, b = gg.broadcast_tensors(gg.zeros(3, 1), gg.ones(4))
    assert a.shape == b.shape == tuple(torch.broadcast_tensors(torch.zeros(3, 1),
                                                               torch.ones(4))[0].shape)
    assert gg.zeros(3, 1).expand(2, -1, 4).shape == (2, 3, 4)


INPLACE = ["relu", "relu6", "elu", "selu", "celu", "hardsigmoid", "hardswish", "mish", "silu",
           "leaky_relu", "hardtanh", "dropout"]


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_true_writes_the_input_with_torchs_values_and_gradients(name):
    """Finding: `inplace=True` was accepted and ignored (or refused, for relu, leaky_relu
    and silu)."""
    results = []
    for lib, fn in ((torch, getattr(TF, name)), (gg, getattr(F, name))):
        w = lib.tensor([-2.0, -0.5, 0.5, 2.0], requires_grad=True)
        x = w * 1.0
        kw = {"p": 0.0} if name == "dropout" else {}
        y = fn(x, inplace=True, **kw)
        (y * lib.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
        results.append((x.detach().numpy().copy(), y is x, w.grad.numpy().copy()))
    (want, want_same, want_grad), (got, got_same, got_grad) = results
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert got_same and want_same
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-6)


def test_inplace_modules_and_underscore_functions_as_torch():
    for lib in (torch, gg):
        x = lib.tensor([-1.0, 2.0])
        lib.nn.ReLU(inplace=True)(x)
        lib.nn.functional.leaky_relu_(x, 0.5)
        assert x.tolist() == [0.0, 2.0]
    with pytest.raises(gg.AutogradError):  # a leaf that requires grad (torch: RuntimeError)
        F.relu(gg.tensor([-1.0, 2.0], requires_grad=True), inplace=True)


@pytest.mark.parametrize("call", [
    lambda L, F: F.huber_loss(L.zeros(2), L.ones(2), delta=0.0),
    lambda L, F: F.smooth_l1_loss(L.zeros(2), L.ones(2), beta=-1.0),
    lambda L, F: F.hardtanh(L.ones(1), 1.0, -1.0),
    lambda L, F: F.glu(L.tensor(1.0)),
    lambda L, F: F.gaussian_nll_loss(L.zeros(4, 3), L.ones(4, 3), L.ones(3)),
    lambda L, F: F.gaussian_nll_loss(L.zeros(4, 3), L.ones(4, 3), -L.ones(4, 3)),
    lambda L, F: F.cross_entropy(L.zeros(2, 3), L.full((2, 3), 1 / 3), ignore_index=1),
    lambda L, F: L.nn.init.uniform_(L.zeros(2), 1.0, 0.0),
    lambda L, F: L.nn.init.normal_(L.zeros(2), 0.0, -1.0),
])
def test_arguments_torch_refuses_are_refused(call):
    with pytest.raises((RuntimeError, ValueError)):
        call(torch, TF)
    with pytest.raises(gg.GraphgradError):
        call(gg, F)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "softmin"])
def test_softmax_family_of_a_0d_tensor_as_torch(fn):
    want = getattr(TF, fn)(torch.tensor(2.0), dim=0)
    got = getattr(F, fn)(gg.tensor(2.0), dim=0)
    assert got.shape == () and got.item() == pytest.approx(want.item())


def test_trunc_normal_and_orthogonal_init_as_torch_documents():
    w = gg.empty(200, 100)
    nn.init.trunc_normal_(w, std=0.02, a=-0.04, b=0.04)
    t = torch.empty(200, 100)
    torch.nn.init.trunc_normal_(t, std=0.02, a=-0.04, b=0.04)
    a = w.numpy()
    assert a.min() >= -0.04 and a.max() <= 0.04
    assert abs(a.std() - t.std().item()) < 0.001  # the truncated normal's own spread
    for shape in ((6, 4), (4, 6), (3, 2, 2)):
        m = nn.init.orthogonal_(gg.empty(*shape), gain=2.0).numpy().reshape(shape[0], -1)
        small = min(m.shape)
        gram = m @ m.T if m.shape[0] == small else m.T @ m
        np.testing.assert_allclose(gram, 4 * np.eye(small), atol=1e-5)


def test_init_takes_torchs_tensor_keyword_and_a_generator():
    g = gg.Generator().manual_seed(3)
    first = nn.init.kaiming_uniform_(gg.empty(3, 4), generator=g).numpy()
    g.manual_seed(3)
    again = nn.init.kaiming_uniform_(tensor=gg.empty(3, 4), generator=g).numpy()
    np.testing.assert_array_equal(first, again)
