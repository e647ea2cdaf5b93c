"""The digits CNN (examples/cnn_digits.py's model) trained a few steps against PyTorch.

Oracle: torch.nn's same Sequential with the same weights (its state_dict loaded with
`load_state_dict`), the same batches, CrossEntropyLoss and SGD with momentum: losses,
parameters and BatchNorm buffers agree after three steps to float32 rtol 1e-4, eagerly
and compiled (forward, backward, running statistics and the update in one plan).
SGD, not Adam: a convolution bias just before BatchNorm has an exactly-zero gradient
in exact arithmetic, so both libraries compute rounding noise there, which Adam's
normalization would blow up to +-lr steps in unrelated directions.
"""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn, optim

EXAMPLES = str(Path(__file__).resolve().parents[2] / "examples")
if EXAMPLES not in sys.path:  # the examples import each other by module name
    sys.path.insert(0, EXAMPLES)
cnn_digits = importlib.import_module("cnn_digits")


def _torch_cnn():
    t = torch.nn
    return t.Sequential(t.Conv2d(1, 16, 3, padding=1), t.BatchNorm2d(16), t.ReLU(),
                        t.MaxPool2d(2), t.Conv2d(16, 32, 3, padding=1), t.BatchNorm2d(32),
                        t.ReLU(), t.MaxPool2d(2), t.Flatten(), t.Linear(128, 10))


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_three_sgd_steps_match_torch(compiled):
    torch.manual_seed(0)
    ref, model = _torch_cnn(), cnn_digits.make_model()
    model.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(0)
    batches = [(rng.random((16, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 16))
               for _ in range(3)]
    t_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = gg.compile(step) if compiled else step
    for x, y in batches:
        t_opt.zero_grad()
        t_loss = torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y))
        t_loss.backward()
        t_opt.step()
        loss = run(gg.tensor(x), gg.tensor(y))
        np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=1e-4)
    ours = model.state_dict()
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(ours[k].numpy(), v.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=k)
