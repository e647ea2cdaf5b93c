"""Layers, losses, init and repr against PyTorch itself (installed by the test command,
test-only, so these never skip).

Oracle: torch.nn (CPU, float64) on the same inputs and weights. Every behaviour
checked here also has a torch-free test elsewhere in tests/nn.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn

RNG = np.random.default_rng(0)


def both(a):
    return torch.tensor(a), gg.tensor(a, dtype="float64")


LOSSES = [
    ("CrossEntropyLoss", {}, "index"),
    ("CrossEntropyLoss", {"label_smoothing": 0.15, "reduction": "sum"}, "index"),
    ("CrossEntropyLoss", {"weight": np.array([0.2, 1.0, 3.0]), "label_smoothing": 0.1}, "index"),
    ("CrossEntropyLoss", {"ignore_index": 2}, "index"),
    ("CrossEntropyLoss", {"label_smoothing": 0.2}, "probs"),
    ("NLLLoss", {"weight": np.array([0.2, 1.0, 3.0])}, "index"),
    ("MSELoss", {}, "float"),
    ("L1Loss", {"reduction": "none"}, "float"),
    ("BCEWithLogitsLoss", {"pos_weight": np.array([2.0, 0.5, 1.0])}, "unit"),
    ("BCELoss", {}, "prob-input"),
]


@pytest.mark.parametrize("name,kwargs,kind", LOSSES, ids=[f"{n}-{i}" for i, (n, _, _) in
                                                          enumerate(LOSSES)])
def test_losses_and_their_gradients_match_torch(name, kwargs, kind):
    x = RNG.standard_normal((6, 3))
    if kind == "prob-input":
        x = 1 / (1 + np.exp(-x))
    target = {"index": RNG.integers(0, 3, 6), "float": RNG.standard_normal((6, 3)),
              "unit": RNG.random((6, 3)), "prob-input": RNG.random((6, 3)),
              "probs": np.exp(x) / np.exp(x).sum(1, keepdims=True)}[kind]
    tk = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    gk = {k: gg.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    tx, gx = both(x)
    tx.requires_grad_()
    gx.requires_grad_()
    tt = torch.tensor(target)
    gt = gg.tensor(target)
    tl = getattr(torch.nn, name)(**tk)(tx, tt)
    gl = getattr(nn, name)(**gk)(gx, gt)
    np.testing.assert_allclose(gl.numpy(), tl.detach().numpy(), rtol=1e-10)
    tl.sum().backward()
    gl.sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name,args", [("GELU", ()), ("GELU", ("tanh",)), ("SiLU", ()),
                                       ("LeakyReLU", (0.3,)), ("Softmax", (1,)),
                                       ("LogSoftmax", (0,)), ("Sigmoid", ()), ("Tanh", ())])
def test_activations_match_torch(name, args):
    x = RNG.standard_normal((4, 5)) * 3
    tx, gx = both(x)
    np.testing.assert_allclose(getattr(nn, name)(*args)(gx).numpy(),
                               getattr(torch.nn, name)(*args)(tx).numpy(), rtol=1e-6, atol=1e-7)


def test_batchnorm_training_then_eval_matches_torch():
    tb, gb = torch.nn.BatchNorm1d(4, momentum=0.3).double(), nn.BatchNorm1d(4, momentum=0.3)
    gb.double()
    for _ in range(3):
        tx, gx = both(RNG.standard_normal((7, 4, 2)) * 2 + 1)
        np.testing.assert_allclose(gb(gx).numpy(), tb(tx).detach().numpy(), rtol=1e-10)
    for key, value in tb.state_dict().items():
        np.testing.assert_allclose(gb.state_dict()[key].numpy(), value.numpy(), rtol=1e-12)
    tb.eval()
    gb.eval()
    tx, gx = both(RNG.standard_normal((3, 4)))
    np.testing.assert_allclose(gb(gx).numpy(), tb(tx).detach().numpy(), rtol=1e-10)


def test_repr_and_state_dict_keys_match_torch():
    def build(lib):
        return lib.Sequential(lib.Linear(4, 8), lib.BatchNorm1d(8), lib.GELU(), lib.Dropout(0.2),
                              lib.Sequential(lib.Linear(8, 8, bias=False), lib.LeakyReLU(0.1)),
                              lib.Flatten(), lib.Softmax(dim=-1))

    tm, gm = build(torch.nn), build(nn)
    assert repr(gm) == repr(tm)
    assert list(gm.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in gm.named_modules()] == [n for n, _ in tm.named_modules()]
    for loss in ("CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss"):
        assert repr(getattr(nn, loss)()) == repr(getattr(torch.nn, loss)())


def test_linear_loaded_from_torch_weights_gives_torch_outputs():
    tm = torch.nn.Linear(5, 3).double()
    gm = nn.Linear(5, 3).double()
    gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    tx, gx = both(RNG.standard_normal((2, 5)))
    np.testing.assert_allclose(gm(gx).numpy(), tm(tx).detach().numpy(), rtol=1e-12)
