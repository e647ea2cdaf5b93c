"""ExponentialLR, MultiStepLR, LambdaLR, LinearLR, SequentialLR, OneCycleLR (with its
momentum/beta1 cycle) and ReduceLROnPlateau against PyTorch 2.13's schedulers.

Oracle: torch.optim.lr_scheduler driving a torch optimizer with the same arguments; the
learning rate (and momentum / betas) seen at every step must agree to 1e-12.
"""

import pytest
import torch

import graphgrad as gg
from graphgrad import optim
from graphgrad.optim import lr_scheduler as ours_sched

T = torch.optim.lr_scheduler


def _pair(opt_name="SGD", **kw):
    p = gg.tensor([0.0], requires_grad=True)
    q = torch.zeros(1, requires_grad=True)
    return getattr(optim, opt_name)([p], **kw), getattr(torch.optim, opt_name)([q], **kw)


def _trace(opt, sched, steps, metrics=None):
    seen = []
    for i in range(steps):
        g = opt.param_groups[0]
        seen.append((g["lr"], g.get("momentum"), tuple(g.get("betas", ()))))
        opt.step()
        sched.step(metrics[i]) if metrics else sched.step()
    return seen


def _check(make, steps=12, opt_name="SGD", metrics=None, **opt_kw):
    ours_opt, torch_opt = _pair(opt_name, **(opt_kw or {"lr": 0.5, "momentum": 0.9}))
    ours = _trace(ours_opt, make(ours_sched, ours_opt), steps, metrics)
    theirs = _trace(torch_opt, make(T, torch_opt), steps, metrics)
    for a, b in zip(ours, theirs):
        assert a[0] == pytest.approx(b[0], rel=1e-12, abs=1e-15)
        assert a[1] == b[1] or a[1] == pytest.approx(b[1], rel=1e-12)
        assert a[2] == pytest.approx(b[2], rel=1e-12)


@pytest.mark.parametrize("make", [
    lambda m, o: m.ExponentialLR(o, gamma=0.8),
    lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.5),
    lambda m, o: m.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    lambda m, o: m.LinearLR(o, start_factor=0.25, total_iters=6),
    lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.1, total_iters=3),
                                    m.ExponentialLR(o, 0.9)], milestones=[4]),
    lambda m, o: m.SequentialLR(o, [m.ExponentialLR(o, 0.5), m.MultiStepLR(o, [2, 3]),
                                    m.LinearLR(o, 0.5, total_iters=2)], milestones=[3, 7]),
    lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.5, total_iters=3),
                                    m.CosineAnnealingLR(o, T_max=10)], milestones=[3]),
    lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.5, total_iters=3),
                                    m.StepLR(o, 2, 0.5)], milestones=[3]),
    lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=12),
    lambda m, o: m.OneCycleLR(o, max_lr=2.0, total_steps=12, anneal_strategy="linear",
                              three_phase=True),
], ids=["exponential", "multistep", "lambda", "linear", "sequential", "sequential3",
        "warmup_cosine", "warmup_step", "onecycle", "onecycle_linear_3phase"])
def test_scheduler_matches_torch(make):
    _check(make)


def test_onecycle_cycles_adams_beta1():
    _check(lambda m, o: m.OneCycleLR(o, max_lr=0.01, epochs=2, steps_per_epoch=5), steps=10,
           opt_name="Adam", lr=0.001)


def test_reduce_on_plateau_matches_torch():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.97, 0.96, 0.99, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    _check(lambda m, o: m.ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=1,
                                            min_lr=0.06), steps=len(metrics), metrics=metrics)
    _check(lambda m, o: m.ReduceLROnPlateau(o, mode="max", patience=2, threshold=0.1,
                                            threshold_mode="abs"),
           steps=len(metrics), metrics=metrics)


def test_onecycle_reaches_a_compiled_step_without_retrace():
    p = gg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    sched = ours_sched.OneCycleLR(opt, max_lr=1.0, total_steps=6)

    @gg.compile
    def step():
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()

    q = torch.tensor([1.0], requires_grad=True)
    topt = torch.optim.SGD([q], lr=0.1, momentum=0.9)
    tsched = T.OneCycleLR(topt, max_lr=1.0, total_steps=6)
    for _ in range(5):
        step()
        topt.zero_grad()
        (q * q).sum().backward()
        topt.step()
        sched.step()
        tsched.step()
    assert p.item() == pytest.approx(q.item(), rel=1e-6)
    assert step.cache_info().traces == 1


def test_sequential_state_dict_resumes_on_a_new_optimizer():
    """Saved after 2 steps and loaded into a fresh optimizer and SequentialLR, the new
    one goes on from there (the old optimizer is left alone), as in torch."""
    def make(m, o):
        return m.SequentialLR(o, [m.LinearLR(o, 0.5, total_iters=3),
                                  m.StepLR(o, 2, 0.5)], milestones=[3])

    lrs = {}
    for name, mod, lib in (("ours", ours_sched, optim), ("torch", T, torch.optim)):
        p = gg.tensor([0.0], requires_grad=True) if name == "ours" else \
            torch.zeros(1, requires_grad=True)
        old = lib.SGD([p], lr=0.1)
        sched = make(mod, old)
        for _ in range(2):
            old.step()
            sched.step()
        saved = sched.state_dict()
        new = lib.SGD([p], lr=0.1)
        resumed = make(mod, new)
        resumed.load_state_dict(saved)
        for _ in range(3):
            new.step()
            resumed.step()
        lrs[name] = (old.param_groups[0]["lr"], new.param_groups[0]["lr"],
                     resumed.get_last_lr()[0])
    assert lrs["ours"] == pytest.approx(lrs["torch"], rel=1e-12)
