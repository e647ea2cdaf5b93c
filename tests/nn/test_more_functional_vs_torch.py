"""More activations, distances and losses against PyTorch 2.13.

Oracle: torch.nn / torch.nn.functional on the same float64 inputs: values, input
gradients (and PReLU's weight gradient), module reprs; values at the points where the
formulas switch branch (0, ±lambda, large inputs whose discarded branch would overflow);
the compiled plan gives the eager numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn

RNG = np.random.default_rng(1)
X = np.concatenate([RNG.standard_normal(20) * 3, [0.0, 0.5, -0.5, 3.0, -3.0, 800.0, -800.0]])

ACTIVATIONS = [
    ("ELU", dict(alpha=0.7)), ("CELU", dict(alpha=1.3)), ("SELU", {}),
    ("Hardtanh", dict(min_val=-2.0, max_val=1.5)), ("ReLU6", {}), ("Hardsigmoid", {}),
    ("Hardswish", {}), ("LogSigmoid", {}), ("Softsign", {}), ("Mish", {}),
    ("Softmin", dict(dim=0)), ("Tanhshrink", {}), ("Threshold", dict(threshold=0.1, value=7.0)),
    ("Softshrink", dict(lambd=0.4)), ("Hardshrink", {}), ("Softplus", dict(beta=2.0)),
    ("GLU", {}),
]


def _both(name, kwargs):
    return getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)


@pytest.mark.parametrize("name,kwargs", ACTIVATIONS, ids=[a for a, _ in ACTIVATIONS])
def test_activation_values_gradients_and_repr_match_pytorch(name, kwargs):
    ours, theirs = _both(name, kwargs)
    assert repr(ours) == repr(theirs)
    data = X[:-1] if name == "GLU" else X
    a, b = gg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    out, ref = ours(a), theirs(b)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = RNG.standard_normal(ref.shape)
    (out * gg.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    # (rtol 1e-7: PyTorch's float64 hardsigmoid/celu backward use float32 constants)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-7, atol=1e-12)
    assert np.isfinite(a.grad.numpy()).all()


def test_prelu_per_channel_matches_pytorch():
    ours, theirs = nn.PReLU(3, init=0.1).double(), torch.nn.PReLU(3, init=0.1).double()
    assert repr(ours) == repr(theirs)
    x = RNG.standard_normal((2, 3, 4))
    a, b = gg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(a).sum().backward()
    theirs(b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy())
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy())
    assert list(ours.state_dict()) == list(theirs.state_dict())


P, Q = RNG.standard_normal((5, 4)), RNG.standard_normal((5, 4))
SIGN = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
PROBS = np.abs(RNG.standard_normal((5, 4)))
PROBS[0, 1] = 0.0  # kl_div: a zero target contributes 0
LOGP = P - np.log(np.exp(P).sum(1, keepdims=True))
LOSSES = {  # (module arguments, inputs; the first input is the one differentiated)
    "SmoothL1Loss": (dict(beta=0.5), lambda m: (m(P), m(Q))),
    "HuberLoss": (dict(delta=0.7, reduction="sum"), lambda m: (m(P), m(Q))),
    "KLDivLoss": (dict(reduction="batchmean"), lambda m: (m(LOGP), m(PROBS))),
    "KLDivLoss_log": (dict(log_target=True, reduction="sum"), lambda m: (m(P), m(Q))),
    "MarginRankingLoss": (dict(margin=0.2), lambda m: (m(P[:, 0]), m(Q[:, 0]), m(SIGN))),
    "CosineEmbeddingLoss": (dict(margin=0.1), lambda m: (m(P), m(Q), m(SIGN))),
    "HingeEmbeddingLoss": (dict(reduction="none"), lambda m: (m(P[:, 0]), m(SIGN))),
    "SoftMarginLoss": ({}, lambda m: (m(P[:, 0]), m(SIGN))),
    "TripletMarginLoss": (dict(margin=0.5, swap=True), lambda m: (m(P), m(Q), m(P[::-1].copy()))),
    "PoissonNLLLoss": (dict(full=True), lambda m: (m(P), m(PROBS * 3))),
    "PoissonNLLLoss_linear": (dict(log_input=False), lambda m: (m(PROBS + 0.1), m(PROBS))),
    "GaussianNLLLoss": (dict(full=True), lambda m: (m(P), m(Q), m(PROBS[:, 0] + 0.5))),
}


@pytest.mark.parametrize("key", sorted(LOSSES))
def test_losses_match_pytorch(key):
    kwargs, make = LOSSES[key]
    name = key.split("_")[0]
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    g_in = make(gg.tensor)
    t_in = make(torch.tensor)
    g_in[0].requires_grad_(True)
    t_in[0].requires_grad_(True)
    out, ref = ours(*g_in), theirs(*t_in)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(g_in[0].grad.numpy(), t_in[0].grad.numpy(), rtol=1e-9,
                               atol=1e-12)


def test_distances_match_pytorch():
    F, TF = gg.nn.functional, torch.nn.functional
    a, b = gg.tensor(P), gg.tensor(Q)
    ta, tb = torch.tensor(P), torch.tensor(Q)
    for ours, theirs in [(F.normalize(a, dim=1), TF.normalize(ta, dim=1)),
                         (F.cosine_similarity(a, b), TF.cosine_similarity(ta, tb)),
                         (F.pairwise_distance(a, b, p=3.0), TF.pairwise_distance(ta, tb, p=3.0))]:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10)


def test_compiled_matches_eager():
    model = nn.Sequential(nn.Linear(4, 6), nn.SELU(), nn.Linear(6, 4), nn.Mish())
    loss_fn = nn.HuberLoss()

    def step(x, y):
        return loss_fn(model(x), y)

    x, y = gg.tensor(P, dtype=gg.float32), gg.tensor(Q, dtype=gg.float32)
    np.testing.assert_allclose(gg.compile(step)(x, y).item(), step(x, y).item(), rtol=1e-6)
