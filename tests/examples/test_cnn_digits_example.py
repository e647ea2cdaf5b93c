"""examples/cnn_digits.py: the compiled CNN on the digits.

Oracle: held-out accuracy on scikit-learn's digits (chance is 10%). The small CNN
with BatchNorm and Adam (lr 3e-3) reached 83% after one epoch and 99.4% after the
default 10 in the run recorded in the report; one epoch must be far above chance,
compiled whole (forward, backward, running statistics and Adam update in one trace
of one signature) and drawn in legible forward and backward diagrams.
"""

import pytest
from example_helpers import check_diagrams, example, needs_dot

cnn_digits = example("cnn_digits")


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn_digits")
    return cnn_digits.main(["--epochs", "1", "--out", str(out)]), out


def test_one_epoch_learns_in_one_compiled_graph(one_epoch):
    result, _ = one_epoch
    assert result["accuracy"] > 0.6
    info = result["step"].cache_info()
    assert (info.traces, info.hits) == (1, 1438 // 64 - 1)
    ops = {result["step"].last.graph[n]["op"] for n in result["step"].last.graph.nx.nodes}
    # forward, both convolution gradients, pooling's gradient, and the update, together
    assert {"conv", "conv_weight_grad", "conv_input_grad", "max_pool", "max_pool_grad"} <= ops
    phases = set(result["step"].last.graph.nodes_by_phase())
    assert {"forward", "backward", "update"} <= phases


@needs_dot
def test_diagrams_exist_and_parse(one_epoch):
    # the backward view draws each layer's backward as one collapsed box (viz's summary
    # of a graph this size), the first convolution's included
    check_diagrams(one_epoch[1], "cnn_digits", forward_has="conv",
                   backward_has="module model.0")
