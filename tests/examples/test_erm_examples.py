"""examples/linear_erm.py and two_layer_nn.py: the empirical-risk-minimization lab.

Oracle: the statistics of the data the lab draws, y = A x + noise with x ~ N(0, I_10),
noise ~ N(0, 0.1^2 I_3). No predictor has an expected test loss below sigma^2 = 0.01;
least squares on n = 800 samples adds sigma^2 d / (n - d - 1) ~ 1.3% of that, and the
test average over 3000 squared noise terms has a relative standard deviation of
sqrt(2 / 3000) ~ 2.6%, so a converged linear fit lands below 1.2 sigma^2 (over six
standard deviations of slack), and each entry of A_hat is within a few sigma / sqrt(n)
~ 0.0035 of A (bound 0.03). Predicting 0 costs |A|_F^2 / 3 + sigma^2 (~0.65 for the
drawn A); the short-trained network must get below 5 sigma^2 and below a tenth of that.
Early stopping: the restored model's validation loss is the best one seen.
"""

import pytest
from example_helpers import check_diagrams, example, needs_dot

linear_erm = example("linear_erm")
two_layer_nn = example("two_layer_nn")

NOISE_FLOOR = linear_erm.NOISE ** 2


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    out = tmp_path_factory.mktemp("linear_erm")
    return linear_erm.main(["--steps", "200", "--epochs", "3", "--out", str(out)]), out


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_layer_nn")
    return two_layer_nn.main(["--steps", "200", "--epochs", "5", "--out", str(out)]), out


def test_linear_model_reaches_the_noise_floor(linear):
    result, _ = linear
    assert result["test_loss"] < 1.2 * NOISE_FLOOR
    assert result["max_error"] < 0.03
    assert result["zero_test_loss"] > 30 * NOISE_FLOOR  # the data are not trivial


def test_two_layer_network_learns_the_map(network):
    result, _ = network
    assert result["test_loss"] < 5 * NOISE_FLOOR
    assert result["test_loss"] < 0.1 * result["zero_test_loss"]
    assert isinstance(result["model"], two_layer_nn.TwoLayerNN)


def test_early_stopping_restores_the_best_model(tmp_path):
    # Patience 1 over many epochs: it stops once validation stops improving, and the
    # model it returns is the one from the best epoch, not the last.
    result = linear_erm.main(["--steps", "0", "--epochs", "40", "--patience", "1",
                              "--out", str(tmp_path)])
    assert 1 <= result["best_epoch"] < 40
    x_val, y_val = result["data"]["val"]
    assert linear_erm.risk(result["model"], x_val, y_val) == pytest.approx(result["best_val"],
                                                                           rel=1e-6)


def test_compiled_step_traces_once(linear, network):
    # get_batch and the DataLoader (drop_last) both give batches of one shape.
    assert linear[0]["step"].cache_info().traces == 1
    assert network[0]["step"].cache_info().traces == 1


@needs_dot
def test_diagrams_exist_and_parse(linear, network):
    check_diagrams(linear[1], "linear_erm", forward_has="model.A_hat",
                   backward_has="model.A_hat.grad")
    check_diagrams(network[1], "two_layer_nn", forward_has="relu", backward_has="model.H1.grad")
