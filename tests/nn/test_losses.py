"""Losses: values, reductions, weights, label smoothing, ignore_index, gradients.

Oracles: hand-derived values (CrossEntropyLoss on [[2, 8], [5, 5]] with targets [0, 1]
is (log(e^2 + e^8) - 2 + log 2) / 2 = 3.347811; well-separated logits give 0), the
defining formulas evaluated in NumPy float64 (PyTorch's documented definitions of
label smoothing, class weights and BCE), the analytic gradient softmax - onehot of
cross entropy, central finite differences (gg.gradcheck), and PyTorch 2.13 itself for
issue 25's cases (BCE at saturated probabilities, out-of-range and mis-sized inputs,
MSE/L1's broadcast warning, the ignore_index default of -100), eager and compiled.
"""

import math
import warnings

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn
from graphgrad.nn import functional as F

FILE = "test_losses.py"

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((5, 4))
TARGET = np.array([0, 3, 1, 1, 2])
WEIGHT = np.array([0.5, 1.0, 2.0, 1.5])


def np_log_softmax(x):
    x = x - x.max(1, keepdims=True)
    return x - np.log(np.exp(x).sum(1, keepdims=True))


def t64(a):
    return gg.tensor(a, dtype="float64")


def test_cross_entropy_published_value():
    loss = nn.CrossEntropyLoss()(gg.tensor([[2.0, 8.0], [5.0, 5.0]]), gg.tensor([0, 1]))
    hand = (math.log(math.exp(2) + math.exp(8)) - 2 + math.log(2)) / 2
    assert hand == pytest.approx(3.347811, abs=1e-6)
    assert loss.item() == pytest.approx(3.347811, abs=1e-6)


def test_cross_entropy_of_confident_correct_logits_is_zero():
    loss = nn.CrossEntropyLoss()(gg.tensor([[100.0, 0.0], [0.0, 100.0]]), gg.tensor([0, 1]))
    assert loss.item() == 0.0


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_reductions(reduction):
    per = -np_log_softmax(LOGITS)[np.arange(5), TARGET]
    want = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    got = nn.CrossEntropyLoss(reduction=reduction)(t64(LOGITS), gg.tensor(TARGET))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_cross_entropy_class_weights_normalize_by_the_picked_weights():
    per = -np_log_softmax(LOGITS)[np.arange(5), TARGET] * WEIGHT[TARGET]
    got = F.cross_entropy(t64(LOGITS), gg.tensor(TARGET), weight=t64(WEIGHT))
    assert got.item() == pytest.approx(per.sum() / WEIGHT[TARGET].sum(), rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_label_smoothing_mixes_in_the_uniform_distribution(weighted):
    eps, c = 0.2, 4
    logp = np_log_softmax(LOGITS)
    w = WEIGHT if weighted else np.ones(c)
    onehot = np.eye(c)[TARGET]
    smoothed = (1 - eps) * onehot + eps / c
    # PyTorch's definition: each term weighted by w[class], mean divided by sum w[target].
    per = -(smoothed * logp * w).sum(1)
    want = per.sum() / w[TARGET].sum()
    got = F.cross_entropy(t64(LOGITS), gg.tensor(TARGET), weight=t64(w) if weighted else None,
                          label_smoothing=eps)
    assert got.item() == pytest.approx(want, rel=1e-12)


def test_ignore_index_drops_those_targets():
    target = TARGET.copy()
    target[[1, 3]] = -100
    keep = target != -100
    per = -np_log_softmax(LOGITS)[np.arange(5)[keep], target[keep]]
    got = F.cross_entropy(t64(LOGITS), gg.tensor(target), ignore_index=-100)
    assert got.item() == pytest.approx(per.mean(), rel=1e-12)
    none = F.cross_entropy(t64(LOGITS), gg.tensor(target), ignore_index=-100, reduction="none")
    assert none.numpy()[~keep].tolist() == [0.0, 0.0]


def test_probability_targets_and_higher_dimensional_inputs():
    probs = np.exp(np_log_softmax(RNG.standard_normal((5, 4))))
    got = F.cross_entropy(t64(LOGITS), t64(probs))
    assert got.item() == pytest.approx(-(probs * np_log_softmax(LOGITS)).sum(1).mean())
    x = RNG.standard_normal((2, 3, 5))  # (N, C, d)
    y = RNG.integers(0, 3, (2, 5))
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    want = -np.take_along_axis(logp, y[:, None, :], 1).mean()
    assert F.cross_entropy(t64(x), gg.tensor(y)).item() == pytest.approx(want, rel=1e-12)


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    x = t64(LOGITS).requires_grad_()
    F.cross_entropy(x, gg.tensor(TARGET)).backward()
    p = np.exp(np_log_softmax(LOGITS))
    np.testing.assert_allclose(x.grad.numpy(), (p - np.eye(4)[TARGET]) / 5, rtol=1e-10)


@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.1, "weight": WEIGHT},
                                    {"reduction": "sum", "ignore_index": 3}])
def test_cross_entropy_gradcheck(kwargs):
    kwargs = {k: t64(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    x = t64(LOGITS).requires_grad_()
    assert gg.gradcheck(lambda t: F.cross_entropy(t, gg.tensor(TARGET), **kwargs), (x,))


def test_nll_loss_picks_the_target_log_probabilities():
    logp = np_log_softmax(LOGITS)
    got = nn.NLLLoss(reduction="sum")(t64(logp), gg.tensor(TARGET))
    assert got.item() == pytest.approx(-logp[np.arange(5), TARGET].sum(), rel=1e-12)


def test_target_shape_and_dtype_errors_name_the_problem():
    with pytest.raises(gg.ShapeError, match=r"targets of shape \(5,\)"):
        F.cross_entropy(t64(LOGITS), gg.tensor([0, 1]))
    with pytest.raises(gg.ShapeError, match="must be integers"):
        F.nll_loss(t64(LOGITS), gg.tensor([0.0, 1.0, 0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")


def test_mse_and_l1():
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    assert nn.MSELoss()(t64(a), t64(b)).item() == pytest.approx(((a - b) ** 2).mean())
    assert nn.L1Loss(reduction="sum")(t64(a), t64(b)).item() == pytest.approx(
        np.abs(a - b).sum())
    x = t64(a).requires_grad_()
    F.mse_loss(x, t64(b)).backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (a - b) / a.size, rtol=1e-12)


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log")
def test_bce_and_bce_with_logits():
    z = np.array([-30.0, -2.0, 0.0, 1.5, 40.0])
    y = np.array([0.0, 1.0, 0.5, 0.0, 1.0])
    p = 1 / (1 + np.exp(-z))
    # Stable reference: log(sigmoid(z)) = -logaddexp(0, -z).
    want = (y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)).mean()
    assert nn.BCEWithLogitsLoss()(t64(z), t64(y)).item() == pytest.approx(want, rel=1e-12)
    pw = 3.0
    want_pw = (pw * y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)).mean()
    got_pw = nn.BCEWithLogitsLoss(pos_weight=t64([pw]))(t64(z), t64(y))
    assert got_pw.item() == pytest.approx(want_pw, rel=1e-12)
    mid = slice(1, 4)  # where log(p) and log(1 - p) are finite in float64
    bce = -(y[mid] * np.log(p[mid]) + (1 - y[mid]) * np.log(1 - p[mid])).mean()
    assert nn.BCELoss()(t64(p[mid]), t64(y[mid])).item() == pytest.approx(bce, rel=1e-12)
    # PyTorch clamps each log at -100: a confident wrong prediction costs 100, not inf.
    assert nn.BCELoss()(t64([0.0]), t64([1.0])).item() == pytest.approx(100.0)
    x = t64(z[1:4]).requires_grad_()
    assert gg.gradcheck(lambda t: F.binary_cross_entropy_with_logits(t, t64(y[1:4])), (x,))


def test_logit_losses_have_the_exact_gradient_at_zero():
    # d/dz BCEWithLogits(z, y) = sigmoid(z) - y, so 0.5 - y at z = 0 (a kink-free point).
    z = t64([0.0, 0.0]).requires_grad_()
    F.binary_cross_entropy_with_logits(z, t64([1.0, 0.0]), reduction="sum").backward()
    assert z.grad.numpy().tolist() == [-0.5, 0.5]
    s = t64([0.0]).requires_grad_()
    F.softplus(s).sum().backward()  # d softplus / dz = sigmoid(z)
    assert s.grad.item() == 0.5


# ---------------------------------------------------------------------- issue 25, vs PyTorch

SATURATED_P = [0.0, 1.0, 0.0, 1.0, 0.5, 1e-30, 1.0 - 1e-7]
SATURATED_T = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.3]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
# the target's gradient is -log(0) = inf at p = 0 (PyTorch's value); NumPy warns about it
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
def test_bce_at_saturated_probabilities_matches_torch_values_and_grads(dtype, reduction):
    p, t = np.array(SATURATED_P, dtype), np.array(SATURATED_T, dtype)
    tp = torch.tensor(p, requires_grad=True)
    tt = torch.tensor(t, requires_grad=True)
    want = torch.nn.BCELoss(reduction=reduction)(tp, tt)
    want.sum().backward()
    gp, gt = gg.tensor(p, requires_grad=True), gg.tensor(t, requires_grad=True)
    got = nn.BCELoss(reduction=reduction)(gp, gt)
    got.sum().backward()
    rtol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=rtol)
    np.testing.assert_allclose(gp.grad.numpy(), tp.grad.numpy(), rtol=rtol)
    assert np.isfinite(gp.grad.numpy()).all()
    # d/dt is log(1 - p) - log(p), +-inf at p = 0 and 1 in PyTorch too
    np.testing.assert_allclose(gt.grad.numpy(), tt.grad.numpy(), rtol=rtol)


def test_bce_saturated_compiled_equals_eager_and_torch():
    p, t = np.array(SATURATED_P), np.array(SATURATED_T)
    x = gg.tensor(p, requires_grad=True)

    @gg.compile
    def step(x, t):
        loss = F.binary_cross_entropy(x, t)
        loss.backward()
        return loss

    loss = step(x, gg.tensor(t))
    tp = torch.tensor(p, requires_grad=True)
    want = torch.nn.functional.binary_cross_entropy(tp, torch.tensor(t))
    want.backward()
    assert loss.item() == pytest.approx(want.item(), rel=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_bce_autoencoder_recipe_trains_through_saturated_outputs():
    # sigmoid saturates to exactly 1.0 in float32 at large logits (and to PyTorch's tiny
    # value, not 0, at large negative ones): the loss and the gradient must stay finite,
    # as PyTorch's do.
    w = gg.tensor([[40.0, -40.0]], requires_grad=True)
    out = (gg.ones(3, 1) @ w).sigmoid()
    assert out.numpy().max() == 1.0
    np.testing.assert_allclose(out.numpy().min(), torch.sigmoid(torch.tensor(-40.0)).item(),
                               rtol=1e-6)
    F.binary_cross_entropy(out, gg.tensor([[0.0, 1.0]] * 3)).backward()
    assert np.isfinite(w.grad.numpy()).all()


def test_bce_of_values_outside_0_1_raises_like_torch():
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        torch.nn.BCELoss()(torch.tensor([1.5]), torch.tensor([1.0]))
    for bad in ([1.5, 0.5], [-0.1, 0.5], [float("nan"), 0.5]):
        with pytest.raises(gg.ArgumentError, match="between 0 and 1") as info:
            nn.BCELoss()(gg.tensor(bad), gg.tensor([1.0, 0.0]))
        assert f"{FILE}:" in str(info.value) and "binary_cross_entropy" in str(info.value)


def test_bce_outside_0_1_in_a_compiled_step_raises_too():
    step = gg.compile(lambda p, t: F.binary_cross_entropy(p, t))
    assert step(gg.tensor([0.5]), gg.tensor([1.0])).item() == pytest.approx(math.log(2))
    with pytest.raises(gg.GraphgradError, match="between 0 and 1"):
        step(gg.tensor([1.5]), gg.tensor([1.0]))


def test_bce_target_of_another_size_raises_like_torch():
    with pytest.raises(ValueError, match="different to the input size"):
        torch.nn.BCELoss()(torch.full((3, 1), 0.5), torch.zeros(3))
    with pytest.raises(gg.ShapeError, match=r"target size \(\(3,\)\).*input size \(\(3, 1\)\)"):
        nn.BCELoss()(gg.full((3, 1), 0.5), gg.zeros(3))
    with pytest.raises(gg.ShapeError, match="must be the same as input size"):
        nn.BCEWithLogitsLoss()(gg.zeros(3, 1), gg.zeros(3))


@pytest.mark.parametrize("loss", ["MSELoss", "L1Loss"])
def test_mse_and_l1_warn_on_a_broadcasting_target_like_torch(loss):
    a, b = RNG.standard_normal((4, 1)), RNG.standard_normal(4)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        want = getattr(torch.nn, loss)()(torch.tensor(a), torch.tensor(b)).item()
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        got = getattr(nn, loss)()(t64(a), t64(b)).item()  # the warning names this line
    line = test_mse_and_l1_warn_on_a_broadcasting_target_like_torch.__code__.co_firstlineno + 8
    assert got == pytest.approx(want, rel=1e-12)  # same (broadcast) value as PyTorch
    assert [w.category for w in theirs] == [w.category for w in ours] == [UserWarning]
    msg = str(ours[0].message)
    assert "target size ((4,))" in msg and "input size ((4, 1))" in msg
    assert ours[0].filename.endswith(FILE) and ours[0].lineno == line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(nn, loss)()(t64(a), t64(a))  # same sizes: no warning


def test_ignore_index_defaults_to_minus_100_eager_and_compiled():
    logits = RNG.standard_normal((6, 4))
    target = np.array([0, -100, 3, 1, -100, 2])
    tl = torch.tensor(logits, requires_grad=True)
    want = torch.nn.CrossEntropyLoss()(tl, torch.tensor(target))
    want.backward()
    assert nn.CrossEntropyLoss().ignore_index == nn.NLLLoss().ignore_index == -100
    x = t64(logits).requires_grad_()
    got = nn.CrossEntropyLoss()(x, gg.tensor(target))
    got.backward()
    assert got.item() == pytest.approx(want.item(), rel=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tl.grad.numpy(), rtol=1e-10, atol=1e-14)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    step = gg.compile(lambda x, t: loss_fn(x, t))
    want_s = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(tl, torch.tensor(target))
    assert step(t64(logits), gg.tensor(target)).item() == pytest.approx(want_s.item(),
                                                                        rel=1e-12)
    nll = nn.NLLLoss()(t64(np_log_softmax(logits)), gg.tensor(target))
    assert nll.item() == pytest.approx(want.item(), rel=1e-12)


def test_gaussian_nll_with_a_constant_var_made_inside_a_compiled_step():
    """A var made in the step is a constant: its sign is checked on its values, not by a
    traced comparison (which raised TracingError)."""
    x = gg.tensor(np.array([0.5, -1.0, 2.0], np.float32))
    step = gg.compile(lambda v: F.gaussian_nll_loss(v * 1.0, gg.zeros(3), gg.full((3,), 2.0)))
    want = torch.nn.functional.gaussian_nll_loss(torch.tensor(x.numpy()), torch.zeros(3),
                                                 torch.full((3,), 2.0))
    assert step(x).item() == pytest.approx(want.item(), rel=1e-6)
    with pytest.raises(gg.ArgumentError, match="negative"):
        gg.compile(lambda v: F.gaussian_nll_loss(v * 1.0, gg.zeros(3), gg.full((3,), -1.0)))(x)
