"""The temperature fit of "Deep Learning with PyTorch" (Stevens, Antiga, Viehmann), ch. 5.

Oracle: the book's published result. The linear model t_c = w * (0.1 * t_u) + b,
from w = 1, b = 0, trained full batch with SGD(lr=1e-2) and MSE for 5000 epochs,
ends at w = 5.367, b = -17.30 with loss 2.927. The train/validation variant checks
the book's point that a loss computed under no_grad does not require grad.
"""

from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim

DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "temperature.csv"


def load():
    table = np.loadtxt(DATA, delimiter=",", skiprows=1)
    return gg.tensor(table[:, 0], dtype="float32"), gg.tensor(table[:, 1], dtype="float32")


def model(t_u, w, b):
    return w * t_u + b


def fit(step_fn, x, y, epochs=5000):
    loss = None
    for _ in range(epochs):
        loss = step_fn(x, y)
    return loss


def make_step():
    w = gg.tensor(1.0, requires_grad=True)
    b = gg.tensor(0.0, requires_grad=True)
    opt = optim.SGD([w, b], lr=1e-2)
    loss_fn = nn.MSELoss()

    def step(t_un, t_c):
        opt.zero_grad()
        loss = loss_fn(model(t_un, w, b), t_c)
        loss.backward()
        opt.step()
        return loss

    return w, b, step


def test_sgd_fit_reaches_the_published_parameters():
    t_u, t_c = load()
    w, b, step = make_step()
    loss = fit(step, 0.1 * t_u, t_c)
    assert w.item() == pytest.approx(5.367, abs=1e-3)
    assert b.item() == pytest.approx(-17.30, abs=1e-2)
    assert loss.item() == pytest.approx(2.927, abs=1e-3)


def test_compiled_fit_reaches_the_same_parameters():
    t_u, t_c = load()
    w, b, step = make_step()
    compiled = gg.compile(step)
    loss = fit(compiled, 0.1 * t_u, t_c)
    assert compiled.cache_info().traces == 1
    assert w.item() == pytest.approx(5.367, abs=1e-3)
    assert b.item() == pytest.approx(-17.30, abs=1e-2)
    assert loss.item() == pytest.approx(2.927, abs=1e-3)


def test_train_validation_split_and_no_grad_validation_loss():
    t_u, t_c = load()
    n = t_u.shape[0]
    n_val = int(0.2 * n)
    perm = gg.randperm(n)
    train_idx, val_idx = perm[:-n_val], perm[-n_val:]
    assert sorted(perm.tolist()) == list(range(n))
    train_u, train_c = 0.1 * t_u[train_idx], t_c[train_idx]
    val_u, val_c = 0.1 * t_u[val_idx], t_c[val_idx]
    w = gg.tensor(1.0, requires_grad=True)
    b = gg.tensor(0.0, requires_grad=True)
    opt = optim.SGD([w, b], lr=1e-2)
    with gg.no_grad():
        initial_val = nn.functional.mse_loss(model(val_u, w, b), val_c).item()
    for _ in range(3000):
        opt.zero_grad()
        train_loss = nn.functional.mse_loss(model(train_u, w, b), train_c)
        train_loss.backward()
        opt.step()
        with gg.no_grad():
            val_loss = nn.functional.mse_loss(model(val_u, w, b), val_c)
            assert val_loss.requires_grad is False
    assert train_loss.requires_grad is True
    assert val_loss.item() < initial_val / 5
