"""examples/mlp_digits.py: the compiled digits MLP (the quick start's main job).

Oracle: held-out accuracy on scikit-learn's digits. Chance is 10%; a 64-128-128-10 MLP
trained with Adam (lr 1e-3) is known to pass 95% on the 20% held out within a few
dozen passes, so the full default run must reach 95% (and, as the quick start
promises, in well under a minute); one epoch must already be far above chance.
"""

import time

import pytest
from example_helpers import check_diagrams, example, needs_dot

mlp_digits = example("mlp_digits")


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp_digits")
    return mlp_digits.main(["--epochs", "1", "--out", str(out)]), out


def test_one_epoch_learns(one_epoch):
    result, out = one_epoch
    assert result["accuracy"] > 0.6
    assert len(result["history"]["test_acc"]) == 1
    # 1438 training digits (80% of 1797) in batches of 64, drop_last: 22 steps of one
    # shape, so one trace and 21 cached calls.
    info = result["step"].cache_info()
    assert (info.traces, info.hits) == (1, 1438 // 64 - 1)
    pytest.importorskip("matplotlib")
    assert (out / "mlp_digits_training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_dot
def test_diagrams_exist_and_parse(one_epoch):
    check_diagrams(one_epoch[1], "mlp_digits", forward_has="relu",
                   backward_has="model.0.weight.grad")


@pytest.mark.slow
def test_default_run_reaches_95_percent_within_a_minute(tmp_path):
    start = time.perf_counter()
    result = mlp_digits.main(["--out", str(tmp_path)])
    assert result["accuracy"] >= 0.95
    assert time.perf_counter() - start < 60
