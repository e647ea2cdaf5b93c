"""Optimizers and schedulers against PyTorch itself (installed by the test command,
test-only, so these never skip).

Oracle: torch.optim (CPU, float64) run from the same parameters on the same loss.
The torch-free tests in test_update_formulas.py and test_lr_scheduler.py check the
same behaviour against the documented formulas.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import optim
from graphgrad.optim import lr_scheduler

CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.9), amsgrad=True)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.9)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1)),
]


def loss_of(w, x, y, lib):
    # A non-quadratic loss so the gradients change shape from step to step.
    return (lib.tanh(x @ w) - y).pow(2).sum() if lib is torch else \
        ((gg.tanh(x @ w) - y) ** 2).sum()


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in
                                                      enumerate(CONFIGS)])
def test_optimizer_matches_torch_for_five_steps(name, kwargs):
    rng = np.random.default_rng(0)
    w0, x, y = rng.standard_normal((3, 2)), rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    tw = torch.tensor(w0, requires_grad=True)
    gw = gg.tensor(w0, requires_grad=True)
    topt = getattr(torch.optim, name)([tw], **kwargs)
    gopt = getattr(optim, name)([gw], **kwargs)
    tx, ty, gx, gy = torch.tensor(x), torch.tensor(y), gg.tensor(x), gg.tensor(y)
    for _ in range(5):
        topt.zero_grad()
        loss_of(tw, tx, ty, torch).backward()
        topt.step()
        gopt.zero_grad()
        loss_of(gw, gx, gy, gg).backward()
        gopt.step()
        np.testing.assert_allclose(gw.numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    for key, value in topt.state[tw].items():
        np.testing.assert_allclose(gopt.state[gw][key].numpy(), value.numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=key)


@pytest.mark.parametrize("make", [
    lambda mod, opt: mod.StepLR(opt, step_size=3, gamma=0.3),
    lambda mod, opt: mod.CosineAnnealingLR(opt, T_max=6, eta_min=0.01),
])
def test_schedulers_match_torch(make):
    tp = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.5)
    gopt = optim.SGD([gg.zeros(1, requires_grad=True)], lr=0.5)
    ts, gs = make(torch.optim.lr_scheduler, topt), make(lr_scheduler, gopt)
    for _ in range(20):
        assert gs.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12, abs=1e-15)
        topt.step()
        gopt.step()
        ts.step()
        gs.step()
