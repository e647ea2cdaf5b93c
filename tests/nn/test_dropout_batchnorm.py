"""Dropout and BatchNorm1d in training and eval mode.

Oracles: the definitions. Dropout keeps each element with probability 1 - p and scales
kept ones by 1/(1 - p) (so the mean is preserved), and is the identity in eval mode.
BatchNorm1d normalizes with the batch's biased variance, updates running_mean and
running_var (unbiased) as (1 - m) * running + m * batch, and uses the running
statistics in eval mode; all recomputed here in NumPy float64.
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn


def test_dropout_zeroes_about_p_and_rescales_the_rest():
    d = nn.Dropout(0.3)
    out = d(gg.ones(200, 100)).numpy()
    kept = out != 0
    values = np.unique(out)
    assert len(values) == 2 and values[0] == 0.0
    assert values[1] == pytest.approx(1 / 0.7, rel=1e-6)
    assert kept.mean() == pytest.approx(0.7, abs=0.01)  # 20k Bernoulli draws: sd 0.003


def test_dropout_is_the_identity_in_eval_and_reproducible_under_a_seed():
    d = nn.Dropout(0.5)
    x = gg.randn(10, 10)
    assert d.eval()(x) is x
    d.train()
    gg.manual_seed(7)
    a = d(x).numpy()
    gg.manual_seed(7)
    b = d(x).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, d(x).numpy())  # the next call draws a new mask


def test_dropout_gradient_follows_the_mask():
    x = gg.ones(50, requires_grad=True)
    y = nn.functional.dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())
    assert nn.functional.dropout(x, 1.0).detach().numpy().tolist() == [0.0] * 50
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def bn_reference(x, running_mean, running_var, momentum, eps=1e-5):
    axes = (0,) if x.ndim == 2 else (0, 2)
    mean, var = x.mean(axes), x.var(axes)
    n = x.size // x.shape[1]
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
    out = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    new_mean = (1 - momentum) * running_mean + momentum * mean
    new_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    return out, new_mean, new_var


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5)])
def test_batchnorm_training_uses_batch_statistics_and_updates_running_ones(shape):
    x = np.random.default_rng(0).standard_normal(shape) * 3 + 1
    bn = nn.BatchNorm1d(3, momentum=0.2).double()
    out = bn(gg.tensor(x)).numpy()
    want, mean, var = bn_reference(x, np.zeros(3), np.ones(3), 0.2)
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 1


def test_batchnorm_eval_uses_running_statistics_and_affine_parameters():
    bn = nn.BatchNorm1d(2).double()
    with gg.no_grad():
        bn.running_mean.copy_(gg.tensor([1.0, -1.0]))
        bn.running_var.copy_(gg.tensor([4.0, 0.25]))
        bn.weight.copy_(gg.tensor([2.0, 1.0]))
        bn.bias.copy_(gg.tensor([0.5, 0.0]))
    bn.eval()
    x = np.array([[3.0, 0.0], [1.0, -1.5]])
    want = (x - [1.0, -1.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5) * [2.0, 1.0] + [0.5, 0.0]
    np.testing.assert_allclose(bn(gg.tensor(x)).numpy(), want, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 0
    np.testing.assert_array_equal(bn.running_mean.numpy(), [1.0, -1.0])  # unchanged


def test_batchnorm_cumulative_average_when_momentum_is_none():
    bn = nn.BatchNorm1d(2, momentum=None).double()
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((6, 2)) for _ in range(3)]
    for b in batches:
        bn(gg.tensor(b))
    want = np.mean([b.mean(0) for b in batches], 0)
    np.testing.assert_allclose(bn.running_mean.numpy(), want, rtol=1e-12)


def test_batchnorm_gradients_and_errors():
    bn = nn.BatchNorm1d(3).double()
    x = gg.tensor(np.random.default_rng(2).standard_normal((5, 3)), requires_grad=True)
    assert gg.gradcheck(lambda t: (bn(t) * gg.tensor([1.0, 2.0, 3.0], dtype="float64")).sum()
                        + (bn(t) ** 2).sum(), (x,))
    with pytest.raises(gg.ShapeError, match="2D or 3D"):
        bn(gg.ones(2, 3, 4, 5))
    with pytest.raises(gg.ShapeError, match="more than 1 value per channel"):
        bn(gg.ones(1, 3, dtype="float64"))
    plain = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(plain.state_dict()) == [] and plain.eval()(gg.ones(4, 3)).shape == (4, 3)


def test_batchnorm_without_bias():
    bn = nn.BatchNorm1d(3, bias=False)
    assert bn.bias is None and [n for n, _ in bn.named_parameters()] == ["weight"]
    assert "bias=False" in repr(bn)
    out = bn(gg.tensor(np.random.default_rng(3).standard_normal((6, 3))))
    np.testing.assert_allclose(out.numpy().mean(0), 0.0, atol=1e-6)
