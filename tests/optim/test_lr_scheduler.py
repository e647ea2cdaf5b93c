"""StepLR and CosineAnnealingLR.

Oracles: the closed forms in PyTorch's documentation, lr_t = lr_0 * gamma^(t // step_size)
and eta_t = eta_min + (eta_max - eta_min) (1 + cos(pi t / T_max)) / 2, evaluated in
Python floats; and p - lr * grad for the lr a step actually uses.
"""

import math

import pytest

import graphgrad as gg
from graphgrad import optim
from graphgrad.optim.lr_scheduler import CosineAnnealingLR, StepLR


def make_opt(lr=1.0):
    p = gg.tensor([0.0], requires_grad=True)
    return p, optim.SGD([p], lr=lr)


def test_step_lr_multiplies_every_step_size_epochs():
    _, opt = make_opt(1.0)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    seen = []
    for _ in range(10):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([1.0 * 0.5 ** (t // 3) for t in range(10)], rel=1e-12)
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]


@pytest.mark.parametrize("t_max,eta_min", [(10, 0.0), (7, 0.05)])
def test_cosine_annealing_follows_the_closed_form(t_max, eta_min):
    base = 0.3
    _, opt = make_opt(base)
    sched = CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)
    for t in range(3 * t_max):  # past T_max the cosine rises again (no restarts)
        want = eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / t_max)) / 2
        assert opt.param_groups[0]["lr"] == pytest.approx(want, rel=1e-9, abs=1e-12), t
        sched.step()


def test_the_optimizer_steps_with_the_scheduled_lr():
    p, opt = make_opt(1.0)
    sched = StepLR(opt, step_size=1, gamma=0.1)
    for lr in (1.0, 0.1, 0.01):
        before = p.item()
        opt.zero_grad()
        (p - 3.0).pow(2).sum().backward()  # grad = 2 (p - 3)
        opt.step()
        assert p.item() == pytest.approx(before - lr * 2 * (before - 3.0), rel=1e-5)
        sched.step()


def test_state_dict_round_trip_and_initial_lr():
    _, opt = make_opt(0.5)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    assert opt.param_groups[0]["initial_lr"] == 0.5
    for _ in range(3):
        sched.step()
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 3
    _, opt2 = make_opt(0.5)
    sched2 = StepLR(opt2, step_size=2, gamma=0.5)
    sched2.load_state_dict(sd)
    assert sched2.last_epoch == 3 and sched2.get_last_lr() == sched.get_last_lr()


def test_resuming_needs_initial_lr():
    _, opt = make_opt()
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(opt, step_size=2, last_epoch=4)
