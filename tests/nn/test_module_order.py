"""Re-assigning a registered child, parameter or buffer keeps its place (issue 25).

Oracle: PyTorch 2.13's `torch.nn` doing the same assignments: the order of children,
of `named_parameters()` and of `state_dict()` keys must be the same, and a Sequential
whose first layer was replaced must run its layers in the original order (checked by
the output shape, which only the right order gives, and by the value against
PyTorch with the same weights).
"""

from __future__ import annotations

import numpy as np
import torch

import graphgrad as gg
from graphgrad import nn


def test_sequential_setitem_replaces_in_place():
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    tseq = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    seq[0] = nn.Linear(4, 3, bias=False)
    tseq[0] = torch.nn.Linear(4, 3, bias=False)
    seq[-1] = nn.Linear(3, 5)
    tseq[-1] = torch.nn.Linear(3, 5)
    assert [type(m).__name__ for m in seq] == [type(m).__name__ for m in tseq]
    assert list(seq.state_dict()) == list(tseq.state_dict())
    seq.load_state_dict({k: gg.tensor(v.numpy()) for k, v in tseq.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    out = seq(gg.tensor(x))
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out.numpy(), tseq(torch.tensor(x)).detach().numpy(), rtol=1e-6)


def test_module_list_setitem_keeps_order():
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh(), nn.Sigmoid()])
    ml[1] = nn.Linear(2, 2)
    assert [type(m).__name__ for m in ml] == ["ReLU", "Linear", "Sigmoid"]


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.w = nn.Parameter(gg.zeros(3))
        self.register_buffer("stat", gg.zeros(1))
        self.b = nn.Linear(2, 2)


class _TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(2, 2)
        self.w = torch.nn.Parameter(torch.zeros(3))
        self.register_buffer("stat", torch.zeros(1))
        self.b = torch.nn.Linear(2, 2)


def test_reassigning_parameters_submodules_and_buffers_keeps_state_dict_order():
    ours, theirs = _Net(), _TorchNet()
    ours.a = nn.Linear(2, 2)
    theirs.a = torch.nn.Linear(2, 2)
    ours.w = nn.Parameter(gg.ones(3))
    theirs.w = torch.nn.Parameter(torch.ones(3))
    ours.stat = gg.ones(1)
    theirs.stat = torch.ones(1)
    ours.a.weight = nn.Parameter(gg.ones(2, 2))
    theirs.a.weight = torch.nn.Parameter(torch.ones(2, 2))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert ours.state_dict()["w"].tolist() == [1.0, 1.0, 1.0]


def test_changing_the_kind_of_an_attribute_moves_it_as_in_torch():
    ours, theirs = _Net(), _TorchNet()
    del ours.w
    del theirs.w
    ours.w = nn.Parameter(gg.ones(3))  # deleted then re-added: goes to the end
    theirs.w = torch.nn.Parameter(torch.ones(3))
    assert list(ours.state_dict()) == list(theirs.state_dict())
