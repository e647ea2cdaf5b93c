"""What a compiled step read from Python is either read at every call or guarded.

Oracles: the same step run eagerly, and PyTorch's optimizers for the hyperparameter
switches the issue names (OneCycleLR-style momentum changes, `momentum = 0`); for
guards, `cache_info()` saying in the user's words what changed. Each of the issue's
examples is one test here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn, optim


def _sgd_pair(**kw):
    """One-parameter SGD steps in graphgrad (compiled) and PyTorch, same start."""
    w = gg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1, **kw)

    @gg.compile
    def step(x):
        opt.zero_grad()
        loss = ((w * x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    tw = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.1, **kw)

    def tstep(x):
        topt.zero_grad()
        loss = ((tw * x) ** 2).sum()
        loss.backward()
        topt.step()
        return loss

    return (w, opt, step), (tw, topt, tstep)


@pytest.mark.parametrize("key,value", [("momentum", 0.0), ("momentum", 0.5),
                                       ("weight_decay", 0.1), ("dampening", 0.5),
                                       ("maximize", True)])
def test_sgd_hyperparameter_changes_match_pytorch(key, value):
    (w, opt, step), (tw, topt, tstep) = _sgd_pair(momentum=0.9)
    x = gg.tensor([0.5, 0.1, -0.2])
    tx = torch.tensor([0.5, 0.1, -0.2])
    for i in range(6):
        if i == 2:
            opt.param_groups[0][key] = value
            topt.param_groups[0][key] = value
        np.testing.assert_allclose(step(x).item(), tstep(tx).item(), rtol=1e-5)
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5)


def test_one_cycle_momentum_is_read_at_every_call_without_retracing():
    (w, opt, step), (tw, topt, tstep) = _sgd_pair(momentum=0.95)
    x, tx = gg.tensor([0.5, 0.1, -0.2]), torch.tensor([0.5, 0.1, -0.2])
    for m in (0.95, 0.9, 0.85, 0.9, 0.95):  # what OneCycleLR(cycle_momentum=True) does
        opt.param_groups[0]["momentum"] = topt.param_groups[0]["momentum"] = m
        step(x), tstep(tx)
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5)
    assert step.cache_info().traces == 1


@pytest.mark.parametrize("key,value", [("betas", (0.5, 0.9)), ("eps", 1e-2),
                                       ("weight_decay", 0.1), ("maximize", True)])
def test_adam_hyperparameter_changes_match_pytorch(key, value):
    w = gg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    tw = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt, topt = optim.Adam([w], lr=0.1), torch.optim.Adam([tw], lr=0.1)

    @gg.compile
    def step(x):
        opt.zero_grad()
        loss = ((w * x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    for i in range(5):
        if i == 2:
            opt.param_groups[0][key] = topt.param_groups[0][key] = value
        topt.zero_grad()
        ((tw * torch.tensor([0.5, 0.1, -0.2])) ** 2).sum().backward()
        topt.step()
        step(gg.tensor([0.5, 0.1, -0.2]))
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-7)


def _reason(step) -> str:
    return step.cache_info().records[-1].reason


def _train(model, opt):
    loss_fn = nn.MSELoss()

    @gg.compile
    def step(x):
        opt.zero_grad()
        loss = loss_fn(model(x), x[:, :2])
        loss.backward()
        opt.step()
        return loss

    return step


def test_a_switch_to_zero_retraces_and_says_which_hyperparameter():
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = _train(model, opt)
    x = gg.randn(4, 3)
    step(x), step(x)
    opt.param_groups[0]["momentum"] = 0
    step(x)
    assert "param_groups[0]['momentum'] changed to 0 (traced with 0.9)" in _reason(step)


@pytest.mark.parametrize("change,words", [
    (lambda m, o: setattr(m, "fc", nn.Linear(3, 2)), "model.fc is a different object"),
    (lambda m, o: setattr(m.fc, "weight", nn.Parameter(gg.randn(2, 3))),
     "model.fc.weight is a different object"),
    (lambda m, o: setattr(m.bn, "running_mean", gg.zeros(2)),
     "model.bn.running_mean is a different object"),
    (lambda m, o: setattr(m.drop, "p", 0.0), "model.drop.p changed (traced with 0.5)"),
    (lambda m, o: setattr(m.bn, "momentum", 0.5), "model.bn.momentum changed"),
    (lambda m, o: setattr(m.bn, "eps", 1e-3), "model.bn.eps changed"),
    (lambda m, o: o.add_param_group({"params": [m.extra]}), "param_groups changed"),
    (lambda m, o: o.param_groups[0]["params"].pop(), "parameters in SGD.param_groups[0]"),
    (lambda m, o: o.state.clear(), "was replaced or cleared"),
    (lambda m, o: o.state[m.fc.weight].__setitem__("momentum_buffer", gg.zeros(2, 3)),
     "['momentum_buffer'] is a different object"),
    (lambda m, o: setattr(m.fc.weight, "data", gg.zeros(2, 3, dtype=gg.float64)),
     None),  # (the data setter keeps the parameter's dtype: no retrace needed)
])
def test_structural_changes_retrace_and_say_what_changed(change, words):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)
            self.bn = nn.BatchNorm1d(2)
            self.drop = nn.Dropout(0.5)
            self.extra = nn.Parameter(gg.ones(()))

        def forward(self, x):
            return self.drop(self.bn(self.fc(x))) * self.extra

    model = Model()
    opt = optim.SGD([model.fc.weight, model.fc.bias], lr=0.1, momentum=0.9)
    step = _train(model, opt)
    x = gg.randn(4, 3)
    step(x), step(x)
    traces = step.cache_info().traces
    change(model, opt)
    step(x)
    if words is None:
        assert step.cache_info().traces == traces
    else:
        assert step.cache_info().traces == traces + 1
        assert words in _reason(step), _reason(step)


def test_replacing_the_global_model_retraces():
    global MODEL
    MODEL = nn.Linear(3, 1)

    @gg.compile
    def predict(x):
        return MODEL(x).sum()

    x = gg.ones(2, 3)
    predict(x)
    MODEL = nn.Linear(3, 1)
    assert predict(x).item() == pytest.approx(MODEL(x).sum().item(), rel=1e-6)
    assert "the global 'MODEL' now holds a different object" in _reason(predict)


def test_a_trainer_method_follows_its_attributes():
    class Trainer:
        def __init__(self):
            self.model = nn.Linear(3, 1)

        def predict(self, x):
            return self.model(x).sum()

    trainer = Trainer()
    predict = gg.compile(trainer.predict)
    x = gg.ones(2, 3)
    predict(x)
    trainer.model = nn.Linear(3, 1)
    assert predict(x).item() == pytest.approx(trainer.model(x).sum().item(), rel=1e-6)
    assert "self.model now holds a different object" in _reason(predict)


def test_guards_are_one_generated_function():
    model = nn.Linear(3, 2)
    step = _train(model, optim.Adam(model.parameters()))
    step(gg.randn(4, 3)), step(gg.randn(4, 3))
    guards = step.last.guards
    assert guards.source.startswith("def check():") and guards.check() is True
    assert step.cache_info().traces == 1


CONFIG = {"clip": True, "scale": 2.0}
LIMIT = 1.0


def test_python_values_read_from_globals_are_guarded():
    global LIMIT

    @gg.compile
    def f(x):
        y = x * CONFIG["scale"]
        if CONFIG["clip"]:
            y = y.clamp(max=LIMIT)
        return y

    x = gg.full((2,), 3.0)
    assert f(x).numpy().tolist() == [1.0, 1.0]
    CONFIG["clip"] = False
    assert f(x).numpy().tolist() == [6.0, 6.0]
    assert "the global 'CONFIG' changed" in _reason(f)
    LIMIT = 5.0
    assert f(x).numpy().tolist() == [6.0, 6.0]
    assert "the global 'LIMIT' changed (traced with 1.0)" in _reason(f)
    CONFIG["clip"] = True
    assert f(x).numpy().tolist() == [5.0, 5.0]
    CONFIG["clip"], LIMIT = True, 1.0
    assert f(x).numpy().tolist() == [1.0, 1.0] and f.cache_info().hits == 1


def test_a_closure_number_is_guarded():
    def make():
        factor = 2.0

        def f(x):
            return x * factor

        def set_factor(v):
            nonlocal factor
            factor = v
        return f, set_factor

    f, set_factor = make()
    compiled = gg.compile(f)
    assert compiled(gg.ones(1)).item() == 2.0
    set_factor(3.0)
    assert compiled(gg.ones(1)).item() == 3.0
    assert "the variable 'factor' changed" in _reason(compiled)


def test_a_list_or_dict_attribute_changed_in_place_retraces():
    """A module attribute holding a list or dict of Python values is compared by value:
    `model.scales.append(3.0)` keeps the same list object, but the step it traced used
    the old contents."""
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.scales = [1.0, 2.0]
            self.cfg = {"k": 2.0}

        def forward(self, x):
            y = self.fc(x)
            for s in self.scales:
                y = y * s
            return y * self.cfg["k"]

    model = Scaled()
    step = gg.compile(lambda x: model(x).sum())
    x = gg.randn(2, 3)
    step(x)
    model.scales.append(3.0)
    np.testing.assert_allclose(step(x).item(), model(x).sum().item(), rtol=1e-6)
    assert "scales changed (traced with [1.0, 2.0])" in _reason(step)
    model.cfg["k"] = 5.0
    np.testing.assert_allclose(step(x).item(), model(x).sum().item(), rtol=1e-6)
    assert "cfg changed" in _reason(step)



def _bias_after_unfreezing(compiled: bool) -> np.ndarray:
    gg.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    step = gg.compile(step) if compiled else step
    model.bias.requires_grad_(False)
    step(gg.ones(4, 3))  # traced with the bias frozen
    model.bias.requires_grad_(True)  # fine-tuning unfreezes it: eager trains it again
    step(gg.ones(4, 3))
    return model.bias.numpy()


def test_a_parameter_unfrozen_after_the_trace_is_trained_again():
    np.testing.assert_allclose(_bias_after_unfreezing(True), _bias_after_unfreezing(False),
                               rtol=1e-6)
