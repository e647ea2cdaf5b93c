"""Python values a step reads through plain objects and containers are guarded.

The step reads a scale through an argparse Namespace, a dataclass, a config module, a
nested dict, a long list, a NumPy scalar, an enum, a trainer's `self`, a model's
`self.config`, or reaches a tensor or module through a list or dict. Changing it between
calls must change the compiled result as it changes the eager one (the plan is traced
again, and `cache_info()` says what changed). Oracle: the same sequence run eagerly.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import enum
import functools
import sys
import types

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn

X = gg.tensor(np.linspace(0.1, 1.2, 12, dtype=np.float32).reshape(6, 2))


class Mode(enum.Enum):
    DOUBLE = 2.0
    TRIPLE = 3.0


@dataclasses.dataclass
class Config:
    scale: float = 1.0
    inner: object = None


CONFIG_MODULE = types.ModuleType("gg_test_config")
CONFIG_MODULE.SCALE = 1.0
sys.modules["gg_test_config"] = CONFIG_MODULE
ARGS = argparse.Namespace(scale=1.0)
CFG = Config(inner=Config())
NESTED = {"loss": {"scale": 1.0}}
LONG = [1.0] * 40
NP_SCALE = np.float32(1.0)
MODE = Mode.DOUBLE
HOLDER = {"w": gg.ones(2), "scale": 1.0}


class Trainer:
    def __init__(self):
        self.scale = 1.0

    def step(self, x):
        return (x * self.scale).sum()


# name -> (read in the step, change between calls)
CASES = {
    "argparse": (lambda x: (x * ARGS.scale).sum(), lambda: setattr(ARGS, "scale", 3.0)),
    "dataclass": (lambda x: (x * CFG.scale).sum(), lambda: setattr(CFG, "scale", 3.0)),
    "nested object": (lambda x: (x * CFG.inner.scale).sum(),
                      lambda: setattr(CFG.inner, "scale", 3.0)),
    "config module": (lambda x: (x * CONFIG_MODULE.SCALE).sum(),
                      lambda: setattr(CONFIG_MODULE, "SCALE", 3.0)),
    "nested dict": (lambda x: (x * NESTED["loss"]["scale"]).sum(),
                    lambda: NESTED["loss"].__setitem__("scale", 3.0)),
    "list of 40": (lambda x: (x * LONG[39]).sum(), lambda: LONG.__setitem__(39, 3.0)),
    "numpy scalar": (lambda x: (x * float(NP_SCALE)).sum(),
                     lambda: globals().__setitem__("NP_SCALE", np.float32(3.0))),
    "enum": (lambda x: (x * MODE.value).sum(),
             lambda: globals().__setitem__("MODE", Mode.TRIPLE)),
    "tensor in a dict": (lambda x: (x * HOLDER["w"]).sum(),
                         lambda: HOLDER.__setitem__("w", gg.ones(2) * 3)),
    "number beside a tensor": (lambda x: (x * HOLDER["w"] * HOLDER["scale"]).sum(),
                               lambda: HOLDER.__setitem__("scale", 3.0)),
}


def _reset():
    ARGS.scale = CFG.scale = CFG.inner.scale = CONFIG_MODULE.SCALE = 1.0
    NESTED["loss"]["scale"] = 1.0
    LONG[39] = 1.0
    HOLDER.update(w=gg.ones(2), scale=1.0)
    globals().update(NP_SCALE=np.float32(1.0), MODE=Mode.DOUBLE)


@pytest.mark.parametrize("name", CASES)
def test_a_value_read_through_an_object_or_container_is_guarded(name):
    read, change = CASES[name]
    _reset()
    eager = [read(X).item()]
    change()
    eager.append(read(X).item())
    _reset()
    fn = gg.compile(read)
    got = [fn(X).item()]
    change()
    got.append(fn(X).item())
    _reset()
    assert eager[0] != eager[1]
    np.testing.assert_allclose(got, eager, rtol=1e-6)
    assert fn.cache_info().traces == 2


def test_a_trainer_attribute_read_by_a_compiled_method_is_guarded():
    trainer = Trainer()
    fn = gg.compile(trainer.step)
    first = fn(X).item()
    trainer.scale = 3.0
    assert fn(X).item() == pytest.approx(3 * first)
    assert "self.scale changed" in fn.cache_info().records[-1].reason


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)
        self.config = Config(scale=1.0)

    def forward(self, x):
        return self.fc(x) * self.config.scale


def test_a_models_config_object_is_guarded():
    gg.manual_seed(0)
    net = _Net()
    fn = gg.compile(lambda x: net(x).sum())
    first = fn(X).item()
    net.config.scale = 3.0
    assert fn(X).item() == pytest.approx(3 * first, rel=1e-6)


def test_unchanged_objects_do_not_retrace():
    _reset()
    fn = gg.compile(CASES["nested object"][0])
    for _ in range(3):
        fn(X)
    assert fn.cache_info().traces == 1


WEIGHTS = np.ones(2, np.float32)
BIG = np.ones((100, 50), np.float32)


@pytest.mark.parametrize("make", [
    lambda: gg.tensor(WEIGHTS), lambda: gg.from_numpy(WEIGHTS), lambda: gg.as_tensor(WEIGHTS),
    lambda: {"w": lambda: WEIGHTS}["w"]()])  # (read inside a lambda: still the global)
def test_a_numpy_array_made_a_constant_is_compared_at_every_call(make):
    WEIGHTS[:] = 1.0
    fn = gg.compile(lambda x: (x * make()).sum())
    first = fn(X).item()
    WEIGHTS[:] = 3.0  # in place: re-balanced class weights
    assert fn(X).item() == pytest.approx(3 * first, rel=1e-6)
    assert "NumPy array" in fn.cache_info().records[-1].reason
    WEIGHTS[:] = 1.0


def test_a_large_numpy_constant_warns_once_that_in_place_changes_are_not_seen():
    fn = gg.compile(lambda x: (x * gg.tensor(BIG).sum()).sum())
    with pytest.warns(UserWarning, match="not compared at every call"):
        fn(X)
    fn(X)
    assert fn.cache_info().traces == 1


def test_a_gradient_hook_added_or_removed_after_the_trace_retraces():
    gg.manual_seed(0)
    lin = nn.Linear(2, 1)

    def step(x):
        lin.weight.grad = None
        lin(x).sum().backward()
        return lin.weight.grad * 1.0
    fn = gg.compile(step)
    plain = fn(X).numpy()
    handle = lin.weight.register_hook(lambda g: g * 10)
    np.testing.assert_allclose(fn(X).numpy(), 10 * plain, rtol=1e-6)
    handle.remove()
    np.testing.assert_allclose(fn(X).numpy(), plain, rtol=1e-6)
    assert fn.cache_info().traces == 3
    fn(X)
    assert fn.cache_info().traces == 3


# ------------------------------------------------ reached through a module, class or partial
FORWARD_SCALE = 1.0
DEFAULTS = collections.defaultdict(float, scale=1.0)


class _ScaledNet(nn.Module):
    factor = 1.0  # a class attribute, read as self.factor

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, x):
        extra = getattr(self, "extra", None)  # a buffer that may be registered later
        out = self.fc(x) * FORWARD_SCALE * self.factor
        return out if extra is None else out + extra


class _Weighted:
    def __init__(self):
        self.w = 1.0

    def __call__(self, v):
        return v * self.w


class _Cfg:
    scale = 1.0


WEIGH = _Weighted()


def _reset_more():
    global FORWARD_SCALE
    FORWARD_SCALE = 1.0
    _ScaledNet.factor = _Cfg.scale = WEIGH.w = 1.0
    DEFAULTS["scale"] = 1.0


MORE = {
    "a global read in a module's forward": lambda: globals().__setitem__("FORWARD_SCALE", 3.0),
    "a class attribute read as self.x": lambda: setattr(_ScaledNet, "factor", 3.0),
    "a config class": lambda: setattr(_Cfg, "scale", 3.0),
    "a callable object's attribute": lambda: setattr(WEIGH, "w", 3.0),
    "a defaultdict config": lambda: DEFAULTS.__setitem__("scale", 3.0),
}


@pytest.mark.parametrize("name", MORE)
def test_values_reached_through_modules_classes_and_callables_are_guarded(name):
    gg.manual_seed(0)
    net = _ScaledNet()

    def step(x):
        return WEIGH(net(x).sum() * _Cfg.scale * DEFAULTS["scale"])
    _reset_more()
    eager = [step(X).item()]
    MORE[name]()
    eager.append(step(X).item())
    _reset_more()
    fn = gg.compile(step)
    got = [fn(X).item()]
    MORE[name]()
    got.append(fn(X).item())
    _reset_more()
    assert eager[0] != eager[1]
    np.testing.assert_allclose(got, eager, rtol=1e-6)


def test_a_buffer_registered_after_the_trace_and_looked_up_with_getattr_is_seen():
    gg.manual_seed(0)
    net = _ScaledNet()
    fn = gg.compile(lambda x: net(x).sum())
    first = fn(X).item()
    net.register_buffer("extra", gg.ones(1))
    assert fn(X).item() == pytest.approx(first + X.shape[0], rel=1e-6)
    assert "absent when traced" in fn.cache_info().records[-1].reason


def test_a_partial_and_a_callable_object_step_guard_what_they_read():
    box = types.SimpleNamespace(scale=1.0)

    def scaled(box, x):
        return (x * box.scale).sum()

    fn = gg.compile(functools.partial(scaled, box))
    first = fn(X).item()
    box.scale = 3.0
    assert fn(X).item() == pytest.approx(3 * first)

    class Trainer:
        scale = 1.0

        def __call__(self, x):
            return (x * self.scale).sum()
    trainer = Trainer()
    fn = gg.compile(trainer)
    first = fn(X).item()
    trainer.scale = 3.0
    assert fn(X).item() == pytest.approx(3 * first)


def test_a_schedulers_attribute_and_an_optimizers_own_attribute_read_in_the_step():
    lin = nn.Linear(2, 1)
    opt = gg.optim.SGD(lin.parameters(), lr=0.1)
    sched = gg.optim.lr_scheduler.StepLR(opt, step_size=1)
    opt.loss_scale = 1.0

    def step(x):
        return lin(x).sum() * opt.loss_scale * (1 + sched.last_epoch)
    fn = gg.compile(step)
    first = fn(X).item()
    opt.loss_scale = 2.0
    assert fn(X).item() == pytest.approx(2 * first, rel=1e-6)
    opt.step()
    sched.step()
    assert fn(X).item() == pytest.approx(4 * first, rel=1e-6)


def test_a_hyperparameter_the_step_itself_reads_is_guarded():
    """Finding: `if opt.param_groups[0]["lr"] < 0.04` was decided once, at trace time,
    while a scheduler lowered the lr (the optimizer's own reads were already inputs)."""
    results = []
    for compiled in (False, True):
        gg.manual_seed(0)
        lin = nn.Linear(2, 1)
        opt = gg.optim.SGD(lin.parameters(), lr=0.1)
        sched = gg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

        def step(x, lin=lin, opt=opt):
            opt.zero_grad()
            loss = lin(x).pow(2).mean()
            if opt.param_groups[0]["lr"] < 0.04:
                loss = loss + 10.0 * (lin.weight ** 2).sum()
            loss.backward()
            opt.step()
            return loss
        fn = gg.compile(step) if compiled else step
        losses = []
        for _ in range(5):
            losses.append(fn(X).item())
            sched.step()
        results.append(losses)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5)
