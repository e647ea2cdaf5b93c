"""End-to-end training: a two-layer net on a linear ERM problem, an MLP on digits.

Oracles: the test loss before training (the net must lower it more than tenfold on
noise-free linear data it can represent) and held-out accuracy on scikit-learn's
bundled digits (an MLP of this size is known to exceed 95%; chance is 10%).
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import data, nn, optim

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def test_two_layer_relu_net_solves_a_linear_erm_problem():
    rng = np.random.default_rng(0)
    d, hidden, n = 10, 32, 200
    w_star = rng.standard_normal((d, 1))
    x_train, x_test = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    xtr, ytr, xte, yte = (gg.tensor(a, dtype="float32")
                          for a in (x_train, x_train @ w_star, x_test, x_test @ w_star))
    h1 = nn.Parameter(gg.randn(d, hidden) * (1 / np.sqrt(d)))
    h2 = nn.Parameter(gg.randn(hidden, 1) * (1 / np.sqrt(hidden)))
    opt = optim.SGD([h1, h2], lr=0.05)

    def net(x):
        return nn.functional.relu(x @ h1) @ h2

    with gg.no_grad():
        before = nn.functional.mse_loss(net(xte), yte).item()
    for _ in range(400):
        opt.zero_grad()
        nn.functional.mse_loss(net(xtr), ytr).backward()
        opt.step()
    with gg.no_grad():
        after = nn.functional.mse_loss(net(xte), yte).item()
    assert after < before / 10


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_mlp_on_digits_reaches_95_percent(compiled):
    X, y = sklearn_datasets.load_digits(return_X_y=True)
    dataset = data.TensorDataset(gg.tensor(X / 16.0, dtype="float32"), gg.tensor(y))
    train, test = data.random_split(dataset, [0.8, 0.2], generator=gg.Generator().manual_seed(0))
    loader = data.DataLoader(train, batch_size=64, shuffle=True,
                             generator=gg.Generator().manual_seed(1))
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()

    def train_step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    step = gg.compile(train_step) if compiled else train_step
    for _ in range(15):
        for xb, yb in loader:
            step(xb, yb)
    model.eval()
    x_test, y_test = next(iter(data.DataLoader(test, batch_size=len(test))))
    with gg.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert len(test) == 359 and accuracy >= 0.95  # floor(0.2 * 1797)
