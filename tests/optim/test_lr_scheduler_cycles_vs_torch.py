"""ConstantLR, MultiplicativeLR, PolynomialLR, CyclicLR (all modes, momentum cycling),
CosineAnnealingWarmRestarts (integer and fractional epochs) and ChainedScheduler against
PyTorch 2.13: the learning rate (and momentum / beta1) at every step, state_dict round
trips, and a compiled step reading the scheduled lr.

Oracle: torch.optim.lr_scheduler driving the same optimizer settings.
"""

import warnings

import numpy as np
import pytest
import torch

import graphgrad as gg

CASES = {
    "ConstantLR": lambda L, o: L.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=4),
    "MultiplicativeLR": lambda L, o: L.optim.lr_scheduler.MultiplicativeLR(
        o, lambda e: 0.9 if e % 2 else 0.95),
    "PolynomialLR": lambda L, o: L.optim.lr_scheduler.PolynomialLR(o, total_iters=12,
                                                                   power=2.0),
    "CyclicLR triangular": lambda L, o: L.optim.lr_scheduler.CyclicLR(
        o, 0.01, 0.1, step_size_up=4),
    "CyclicLR triangular2": lambda L, o: L.optim.lr_scheduler.CyclicLR(
        o, 0.01, 0.1, step_size_up=3, step_size_down=5, mode="triangular2"),
    "CyclicLR exp_range": lambda L, o: L.optim.lr_scheduler.CyclicLR(
        o, [0.01], [0.1], step_size_up=4, mode="exp_range", gamma=0.9),
    "CosineAnnealingWarmRestarts": lambda L, o: L.optim.lr_scheduler
    .CosineAnnealingWarmRestarts(o, T_0=4, eta_min=0.001),
    "CosineAnnealingWarmRestarts T_mult=2": lambda L, o: L.optim.lr_scheduler
    .CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
    "ChainedScheduler": lambda L, o: L.optim.lr_scheduler.ChainedScheduler(
        [L.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=3),
         L.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)]),
}


def _run(lib, name, optimizer="sgd", epochs=30):
    p = lib.zeros(2, requires_grad=True)
    opt = lib.optim.SGD([p], lr=0.1, momentum=0.9) if optimizer == "sgd" else \
        lib.optim.Adam([p], lr=0.1)
    sched = CASES[name](lib, opt)
    lrs, momenta = [], []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        group = opt.param_groups[0]
        momenta.append(group["momentum"] if optimizer == "sgd" else group["betas"][0])
        opt.step()
        sched.step()
    return lrs, momenta, sched


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_schedule_is_pytorchs(name, optimizer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _run(torch, name, optimizer)
    got = _run(gg, name, optimizer)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-10, err_msg="lr")
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10, err_msg="momentum")
    np.testing.assert_allclose(got[2].get_last_lr(), want[2].get_last_lr(), rtol=1e-10)


def test_warm_restarts_with_fractional_epochs_as_torch():
    seqs = []
    for lib in (torch, gg):
        p = lib.zeros(1, requires_grad=True)
        opt = lib.optim.SGD([p], lr=0.1)
        sched = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
        seq = []
        for epoch in range(6):
            for i in range(4):
                opt.step()
                sched.step(epoch + i / 4)
                seq.append(opt.param_groups[0]["lr"])
        seqs.append(seq)
    np.testing.assert_allclose(seqs[1], seqs[0], rtol=1e-10)


@pytest.mark.parametrize("name", ["PolynomialLR", "CyclicLR triangular2",
                                  "CosineAnnealingWarmRestarts T_mult=2", "ChainedScheduler"])
def test_state_dict_round_trip_resumes_the_schedule(name):
    full = _run(gg, name, epochs=20)[0]
    lrs, _, sched = _run(gg, name, epochs=10)
    state = sched.state_dict()
    p = gg.zeros(2, requires_grad=True)
    opt = gg.optim.SGD([p], lr=0.1, momentum=0.9)
    resumed = CASES[name](gg, opt)
    resumed.load_state_dict(state)
    opt.param_groups[0]["lr"] = sched.optimizer.param_groups[0]["lr"]
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        resumed.step()
    np.testing.assert_allclose(lrs, full, rtol=1e-10)


def test_a_compiled_step_reads_the_cyclic_lr_without_retracing():
    p = gg.zeros(2, requires_grad=True)
    opt = gg.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = gg.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=2)

    @gg.compile
    def step():
        opt.zero_grad()
        (p * gg.tensor([1.0, 2.0])).sum().backward()
        opt.step()
    tp = torch.zeros(2, requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.CyclicLR(topt, 0.01, 0.1, step_size_up=2)
    for _ in range(8):
        step()
        topt.zero_grad()
        (tp * torch.tensor([1.0, 2.0])).sum().backward()
        topt.step()
        sched.step()
        tsched.step()
    np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-5)
    assert step.cache_info().traces <= 2  # (momentum to and from its start: structural)
