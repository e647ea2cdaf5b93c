"""Optimizer bookkeeping: param groups, zero_grad, state, state_dict, errors.

Oracles: PyTorch's documented behaviour (param-group defaults, `set_to_none`, the
state_dict layout {'state', 'param_groups'} with integer parameter ids) and plain
arithmetic (p - lr * grad) for the effect of each group's learning rate.
"""

import copy

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn, optim


def quadratic_step(opt, params):
    opt.zero_grad()
    loss = sum(((p - 1.0) * (p - 1.0)).sum() for p in params)
    loss.backward()
    opt.step()
    return loss


def test_param_groups_take_defaults_and_their_own_lr():
    a = gg.tensor([1.0, 2.0], requires_grad=True)
    b = gg.tensor([3.0], requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.0)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.0
    quadratic_step(opt, [a, b])
    # grad = 2 (p - 1)
    np.testing.assert_allclose(a.numpy(), [1.0 - 0.1 * 0.0, 2.0 - 0.1 * 2.0], rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), [3.0 - 0.5 * 4.0], rtol=1e-6)


def test_zero_grad_sets_none_or_zeros():
    p = gg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.numpy().tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_parameters_without_grad_are_skipped_and_get_no_state():
    a = gg.tensor([1.0], requires_grad=True)
    b = gg.tensor([5.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    quadratic_step(opt, [a])
    assert b.numpy().tolist() == [5.0]
    assert a in opt.state and b not in opt.state


def test_state_is_updated_in_place_and_step_is_a_float32_counter():
    p = gg.tensor([1.0, -1.0], requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    quadratic_step(opt, [p])
    state = opt.state[p]
    ids = {k: id(v) for k, v in state.items()}
    for _ in range(2):
        quadratic_step(opt, [p])
    assert {k: id(v) for k, v in opt.state[p].items()} == ids
    assert state["step"].shape == () and state["step"].dtype == gg.float32
    assert state["step"].item() == 3.0


def test_state_dict_layout_and_resume_gives_the_same_trajectory():
    def make():
        gg.manual_seed(3)
        model = nn.Linear(3, 2)
        return model, optim.Adam(model.parameters(), lr=0.05, amsgrad=True)

    x = gg.randn(4, 3)

    def step(model, opt):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()

    model, opt = make()
    for _ in range(3):
        step(model, opt)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sd["param_groups"][0]["params"] == [0, 1]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    saved_model = {k: v.clone() for k, v in model.state_dict().items()}
    for _ in range(2):
        step(model, opt)
    expected = [p.numpy() for p in model.parameters()]

    model2, opt2 = make()
    model2.load_state_dict(saved_model)
    opt2.load_state_dict(sd)
    assert opt2.state[model2.weight]["step"].item() == 3.0
    for _ in range(2):
        step(model2, opt2)
    for got, want in zip(model2.parameters(), expected):
        np.testing.assert_array_equal(got.numpy(), want)


def test_load_state_dict_restores_hyperparameters_and_checks_sizes():
    p = gg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.7
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.7
    q = gg.tensor([1.0], requires_grad=True)
    bad = {"state": {}, "param_groups": [{**sd["param_groups"][0], "params": [0, 1]}]}
    with pytest.raises(gg.SerializationError, match="doesn't match the size"):
        optim.SGD([q], lr=0.1).load_state_dict(bad)


def test_closure_is_evaluated_with_grad_enabled_and_its_loss_returned():
    p = gg.tensor([2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with gg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0
    assert p.item() == pytest.approx(2.0 - 0.25 * 4.0)


@pytest.mark.parametrize("make,match", [
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD([p], lr=-1.0), "Invalid learning rate"),
    (lambda p: optim.SGD([p], lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: optim.SGD([p, p], lr=0.1), "more than one"),
    (lambda p: optim.Adam([p], betas=(1.0, 0.9)), "beta"),
    (lambda p: optim.RMSprop([p], alpha=-0.5), "alpha"),
    (lambda p: optim.Adagrad([p], lr_decay=-1), "lr_decay"),
])
def test_invalid_arguments_are_refused(make, match):
    p = gg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match=match):
        make(p)


def test_non_leaf_and_tensor_arguments_are_refused():
    p = gg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p, lr=0.1)


def test_repr_lists_groups_like_pytorch():
    p = gg.tensor([1.0], requires_grad=True)
    text = repr(optim.SGD([p], lr=0.1, momentum=0.9))
    assert text.splitlines()[:2] == ["SGD (", "Parameter Group 0"]
    assert "    lr: 0.1" in text and "    momentum: 0.9" in text and text.endswith(")")


def test_the_state_of_a_parameter_not_stepped_yet_reads_as_empty_as_torch():
    """torch's optimizer.state is a defaultdict: reading it first does not break the
    step that then initializes it (a KeyError before)."""
    p = gg.nn.Parameter(gg.ones(2))
    opt = optim.Adam([p], lr=0.1)
    assert opt.state[p] == {}
    (p * p).sum().backward()
    opt.step()
    assert sorted(opt.state[p]) == ["exp_avg", "exp_avg_sq", "step"]


def test_load_state_dict_replaces_the_state_as_torch():
    """Finding: loading merged into the old state (Adam's step went on from 2 to 3)."""
    steps = []
    for lib in (torch, gg):
        p = lib.tensor([1.0, 2.0], requires_grad=True)
        opt = lib.optim.Adam([p], lr=0.1)
        fresh = copy.deepcopy(opt.state_dict())
        for _ in range(2):
            opt.zero_grad()
            (p * p).sum().backward()
            opt.step()
        opt.load_state_dict(fresh)
        assert len(opt.state) == 0 or not opt.state[p]
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
        steps.append(float(opt.state[p]["step"]))
    assert steps[0] == steps[1] == 1.0


@pytest.mark.parametrize("name, kw", [
    ("ExponentialLR", dict(gamma=0.9)), ("CosineAnnealingLR", dict(T_max=10)),
    ("LinearLR", {}), ("StepLR", dict(step_size=2)), ("MultiStepLR", dict(milestones=[2, 4])),
])
def test_a_scheduler_resumed_with_last_epoch_keeps_the_lr_at_construction(name, kw):
    """Finding: resuming applied epoch k+1 in the constructor (torch 2.13 does not)."""
    seqs = []
    for lib in (torch, gg):
        p = lib.zeros(1, requires_grad=True)
        opt = lib.optim.SGD([p], lr=0.1)
        opt.param_groups[0]["initial_lr"] = 0.1
        sched = getattr(lib.optim.lr_scheduler, name)(opt, last_epoch=3, **kw)
        seq = [opt.param_groups[0]["lr"]]
        for _ in range(4):
            opt.step()
            sched.step()
            seq.append(opt.param_groups[0]["lr"])
        seqs.append(seq)
    np.testing.assert_allclose(seqs[1], seqs[0], rtol=1e-12)


def test_implementation_flags_are_accepted_and_decoupled_adam_is_adamw():
    results = []
    for lib in (torch, gg):
        p = lib.tensor([1.0, 2.0], requires_grad=True)
        opt = lib.optim.Adam([p], lr=0.1, weight_decay=0.5, decoupled_weight_decay=True,
                             foreach=False, fused=None)
        for _ in range(3):
            opt.zero_grad()
            (p * p).sum().backward()
            opt.step()
        results.append(p.detach().numpy().copy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)
    with pytest.raises(gg.UnsupportedError):
        gg.optim.SGD([gg.zeros(1, requires_grad=True)], lr=0.1, differentiable=True)


@pytest.mark.parametrize("compiled", [False, True])
def test_an_optimizer_over_named_parameters_as_torch(compiled):
    results = []
    for lib in (torch, gg):
        lib.manual_seed(0)
        model = lib.nn.Linear(3, 1)
        with lib.no_grad():
            model.weight.copy_(lib.tensor([[0.1, -0.2, 0.3]]))
            model.bias.fill_(0.5)
        opt = lib.optim.Adam(model.named_parameters(), lr=0.1)
        x = lib.tensor([[1.0, 2.0, 3.0]])

        def step(x, model=model, opt=opt):
            opt.zero_grad()
            loss = (model(x) ** 2).sum()
            loss.backward()
            opt.step()
            return loss
        if lib is gg and compiled:
            step = gg.compile(step)
        for _ in range(3):
            step(x)
        results.append((model.weight.detach().numpy().copy(),
                        opt.state_dict()["param_groups"][0]["param_names"]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6)
    assert results[1][1] == results[0][1] == ["weight", "bias"]
