"""The temperature fit of "Deep Learning with PyTorch" ch. 5, written eagerly.

Oracle: the book's published result (examples/data/README.md): `t_c = w * (0.1 * t_u) + b`
from w=1, b=0, plain gradient descent with lr 1e-2 for 5000 full-batch epochs on the mean
squared error reaches w = 5.367, b = -17.30, loss 2.927. The update is the seed's:
`params -= lr * params.grad` under `no_grad`, the grad zeroed every epoch.
"""

from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg

DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "temperature.csv"


def test_temperature_fit_reaches_the_published_parameters():
    table = np.loadtxt(DATA, delimiter=",", skiprows=1)
    t_u, t_c = gg.tensor(table[:, 0].tolist()), gg.tensor(table[:, 1].tolist())
    assert t_u.dtype == gg.float32 and t_u.shape == (11,)
    params = gg.tensor([1.0, 0.0], requires_grad=True)
    lr = 1e-2
    for _ in range(5000):
        w, b = params[0], params[1]
        t_p = w * (0.1 * t_u) + b
        loss = ((t_p - t_c) ** 2).mean()
        if params.grad is not None:
            params.grad.zero_()
        loss.backward()
        with gg.no_grad():
            params -= lr * params.grad
    w, b = params.tolist()
    assert params.is_leaf and params.requires_grad
    assert w == pytest.approx(5.367, abs=1e-3)
    assert b == pytest.approx(-17.30, abs=1e-2)
    assert loss.item() == pytest.approx(2.927, abs=1e-3)  # the book prints 2.927648
