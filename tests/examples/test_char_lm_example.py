"""examples/char_lm.py: the character-level language model (GRU, LSTM, transformer).

Oracle: a uniform guess over tinyshakespeare's 65 characters costs ln 65 = 4.17 nats per
character and the unigram distribution about 3.3; a few dozen Adam steps on short
windows must already beat the uniform guess on held-out text. The compiled step
traces once (one signature), the sample continues the prompt with characters of the
corpus, and the diagrams name the recurrent op and the loss's backward.
"""

import math

import pytest
from example_helpers import check_diagrams, example, needs_dot

char_lm = example("char_lm")
QUICK = ["--epochs", "1", "--steps", "30", "--batch-size", "8", "--context", "16",
         "--sample-length", "40"]


@pytest.fixture(scope="module", params=["gru", "transformer"])
def run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"char_lm_{request.param}")
    return request.param, char_lm.main(QUICK + ["--model", request.param, "--out", str(out)]), out


def test_learns_below_a_uniform_guess(run):
    kind, result, _ = run
    assert result["valid_loss"] < math.log(65) - 0.5
    info = result["step"].cache_info()
    assert (info.traces, info.hits) == (1, 29)
    sample = result["sample"]
    assert sample.startswith("ROMEO:\n") and len(sample) == len("ROMEO:\n") + 40


@needs_dot
def test_diagrams_exist_and_parse(run):
    kind, _, out = run
    check_diagrams(out, f"char_lm_{kind}",
                   forward_has="gru_seq" if kind == "gru" else "log_softmax",
                   backward_has="nll_loss_backward")
