"""examples/temperature.py: the thermometer fit, compiled, with SGD and Adam.

Oracles: the book's published result for the full-data SGD fit (examples/data/README.md:
w = 5.367, b = -17.30, loss 2.927 after 5000 epochs at lr 1e-2 from w=1, b=0), and
NumPy float64 least squares on the training readings for the split fits (both
optimizers run to convergence on 9 points and 2 parameters, so they must land on
the least-squares line, and the validation loss is that line's error on the other 2).
"""

import numpy as np
import pytest
from example_helpers import check_diagrams, example, needs_dot

temperature = example("temperature")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("temperature")
    return temperature.main(["--epochs", "5000", "--out", str(out)]), out


def test_full_data_sgd_reaches_the_published_fit(run):
    result, _ = run
    assert result["full"]["w"] == pytest.approx(5.367, abs=1e-3)
    assert result["full"]["b"] == pytest.approx(-17.30, abs=1e-2)
    assert result["full"]["loss"] == pytest.approx(2.927, abs=1e-3)
    assert result["full"]["step"].cache_info().traces == 1


def least_squares(idx):
    table = np.loadtxt(temperature.DATA, delimiter=",", skiprows=1)
    t_un, t_c = 0.1 * table[:, 0], table[:, 1]
    w, b = np.polyfit(t_un[idx], t_c[idx], 1)
    return w, b, t_un, t_c


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_split_fits_land_on_the_training_least_squares_line(run, name):
    result, _ = run
    train, val = result["train_idx"], result["val_idx"]
    assert sorted(train + val) == list(range(11)) and len(val) == 2  # a randperm split
    w, b, t_un, t_c = least_squares(train)
    fit = result[name]
    assert fit["w"] == pytest.approx(w, abs=1e-2)
    assert fit["b"] == pytest.approx(b, abs=5e-2)
    val_loss = np.mean((w * t_un[val] + b - t_c[val]) ** 2)
    assert fit["val_loss"] == pytest.approx(val_loss, rel=1e-2)


@needs_dot
def test_diagrams_exist_and_parse(run):
    check_diagrams(run[1], "temperature", forward_has="t_u", backward_has="w.grad")
