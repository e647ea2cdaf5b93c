"""ModuleDict, ParameterList and ParameterDict against PyTorch 2.13.

Oracle: torch.nn's containers built the same way: state_dict keys and order, parameter
counts, the dict/list protocol, and a model using them trains (eager and compiled) to
the numbers torch gives from the same weights.
"""

from __future__ import annotations

import numpy as np
import torch

import graphgrad as gg
from graphgrad import optim


def _build(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = lib.nn.ModuleDict({"a": lib.nn.Linear(3, 2), "b": lib.nn.Linear(3, 2)})
            self.heads["c"] = lib.nn.Linear(3, 2)
            self.scales = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2)) for _ in range(2)])
            self.scales.append(lib.nn.Parameter(lib.ones(2) * 2))
            self.bias = lib.nn.ParameterDict({"x": lib.nn.Parameter(lib.zeros(2))})

        def forward(self, x):
            out = self.bias["x"]
            for head, s in zip(self.heads.values(), self.scales):
                out = out + head(x) * s
            return out

    return Net()


def test_state_dict_keys_and_protocol_match_pytorch():
    ours, theirs = _build(gg), _build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(ours.heads) == 3 and "b" in ours.heads and list(ours.heads) == ["a", "b", "c"]
    assert len(ours.scales) == 3 and ours.scales[-1].tolist() == [2.0, 2.0]
    assert sum(p.numel() for p in ours.parameters()) == \
        sum(p.numel() for p in theirs.parameters())
    del ours.heads["b"]
    del theirs.heads["b"]
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_training_through_the_containers_matches_pytorch():
    ours, theirs = _build(gg), _build(torch)
    ours.load_state_dict({k: gg.tensor(v.detach().numpy()) for k, v in
                          theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    opt, topt = optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(),
                                                                       lr=0.1)

    @gg.compile
    def step(x):
        opt.zero_grad()
        loss = (ours(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        step(gg.tensor(x))
        topt.zero_grad()
        (theirs(torch.tensor(x)) ** 2).mean().backward()
        topt.step()
    for (k, v), (_, t) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_allclose(v.numpy(), t.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
