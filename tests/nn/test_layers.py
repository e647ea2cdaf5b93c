"""Linear, containers and activations.

Oracles: NumPy float64 evaluations of the defining formulas (x W^T + b; GELU with
math.erf; softplus as log1p(exp)), PyTorch's documented initialization bound
1/sqrt(fan_in) for Linear (kaiming_uniform with a = sqrt(5)), and central finite
differences (gg.gradcheck) for the gradients.
"""

import math

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn
from graphgrad.nn import functional as F

X = np.linspace(-3.0, 3.0, 13).reshape(1, 13)


def test_linear_computes_x_wT_plus_b():
    m = nn.Linear(3, 2)
    x = np.random.default_rng(0).standard_normal((4, 3))
    want = x @ m.weight.numpy().astype(np.float64).T + m.bias.numpy()
    np.testing.assert_allclose(m(gg.tensor(x, dtype="float32")).numpy(), want, rtol=1e-5)
    assert m.weight.shape == (2, 3) and m.bias.shape == (2,)
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_default_init_is_uniform_within_one_over_sqrt_fan_in():
    m = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = m.weight.numpy(), m.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-B, B) has standard deviation B / sqrt(3); 120k samples pin it to ~0.3%.
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert abs(w.mean()) < 0.01 * bound
    assert b.std() == pytest.approx(bound / math.sqrt(3), rel=0.15)


def test_init_is_reproducible_under_manual_seed():
    gg.manual_seed(5)
    a = nn.Linear(4, 4).weight.numpy()
    gg.manual_seed(5)
    b = nn.Linear(4, 4).weight.numpy()
    np.testing.assert_array_equal(a, b)


def test_init_functions_follow_their_formulas():
    t = gg.zeros(200, 100)
    nn.init.xavier_uniform_(t)
    assert np.abs(t.numpy()).max() <= math.sqrt(6 / 300)
    nn.init.kaiming_normal_(t, nonlinearity="relu")
    assert t.numpy().std() == pytest.approx(math.sqrt(2 / 100), rel=0.05)
    nn.init.constant_(t, 0.25)
    assert set(t.numpy().ravel().tolist()) == {0.25}
    assert nn.init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)


def test_sequential_indexing_len_iteration_and_slices():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    m = nn.Sequential(*layers)
    assert len(m) == 3 and m[0] is layers[0] and m[-1] is layers[2]
    assert list(m) == layers
    head = m[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    x = gg.ones(4, 2)
    np.testing.assert_allclose(m(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())
    with pytest.raises(IndexError):
        m[3]
    m.append(nn.Sigmoid())
    assert len(m) == 4 and isinstance(m[3], nn.Sigmoid)
    del m[1]
    assert [type(x).__name__ for x in m] == ["Linear", "Linear", "Sigmoid"]
    assert [k for k, _ in m.named_children()] == ["0", "1", "2"]


def test_module_list_registers_its_modules():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    assert len(list(ml.parameters())) == 4 and len(ml) == 2


def np_gelu(x):
    return np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.ravel()]
                    ).reshape(x.shape)


ACTIVATIONS = [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh(), np.tanh),
    (nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    (nn.GELU(), np_gelu),
    (nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                       * (x + 0.044715 * x ** 3)))),
    (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    (nn.LogSoftmax(dim=1), lambda x: x - np.log(np.exp(x).sum(1, keepdims=True))),
    (nn.Identity(), lambda x: x),
]


@pytest.mark.parametrize("module,ref", ACTIVATIONS, ids=[repr(a[0]) for a in ACTIVATIONS])
def test_activation_values(module, ref):
    got = module(gg.tensor(X, dtype="float64")).numpy()
    np.testing.assert_allclose(got, ref(X), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("module,ref", ACTIVATIONS[1:-1], ids=[repr(a[0]) for a in
                                                                  ACTIVATIONS[1:-1]])
def test_activation_gradients(module, ref):
    x = gg.tensor(X + 0.05, dtype="float64", requires_grad=True)  # off the kink at 0
    assert gg.gradcheck(lambda t: module(t), (x,))


def test_softplus_is_stable_and_matches_log1p_exp():
    x = np.array([-50.0, -1.0, 0.0, 2.0, 19.0, 30.0])
    got = F.softplus(gg.tensor(x, dtype="float64")).numpy()
    np.testing.assert_allclose(got, np.logaddexp(0, x), rtol=1e-12)


def test_flatten_and_implicit_softmax_dim():
    x = gg.ones(2, 3, 4)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    s = F.softmax(gg.tensor(X), dim=None)  # PyTorch's legacy rule: dim 1 for 2-D input
    np.testing.assert_allclose(s.numpy().sum(1), [1.0], rtol=1e-6)
