"""A trace changes nothing it should not: a failed trace leaves no trace, and Python
side effects inside a compiled step are a clear TracingError, never a silent freeze.

Decision (as documented in README): tensor changes (parameters, buffers, optimizer
state, arguments) are part of the plan; changes to Python state made while tracing
(`scheduler.step()`, a counter, `list.append`, a module attribute) raise a
TracingError at trace time that says what changed and what to do, and the state is
restored. Oracles: the objects' values, grads, version counters and Python attributes
compared before and after the failed call.
"""

from __future__ import annotations

import collections
import itertools
import random
import types

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.optim.lr_scheduler import StepLR


def _setup():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    opt = optim.Adam(model.parameters(), lr=0.1)
    return model, opt


def _picture(model, opt):
    return ([(p.numpy().copy(), p._version, None if p._grad is None else p._grad.numpy().copy())
             for p in model.parameters()],
            [(b.numpy().copy(), b._version) for b in model.buffers()],
            {id(p): {k: v.numpy().copy() for k, v in s.items()} for p, s in opt.state.items()},
            [dict((k, v) for k, v in g.items() if k != "params") for g in opt.param_groups])


def _assert_same_picture(a, b):
    for (pa, va, ga), (pb, vb, gb) in zip(a[0], b[0]):
        np.testing.assert_array_equal(pa, pb)
        assert va == vb and (ga is None) == (gb is None)
        if ga is not None:
            np.testing.assert_array_equal(ga, gb)
    for (ba, va), (bb, vb) in zip(a[1], b[1]):
        np.testing.assert_array_equal(ba, bb)
        assert va == vb
    assert a[2].keys() == b[2].keys() and a[3] == b[3]


@pytest.mark.parametrize("first", [True, False])
def test_a_failed_trace_changes_nothing(first):
    model, opt = _setup()
    x = gg.randn(5, 3)

    def step(x, fail):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        if fail:
            loss.item()  # a TracingError while tracing
        return loss

    compiled = gg.compile(step)
    if not first:  # grads and optimizer state exist already
        compiled(x, False)
    before = _picture(model, opt)
    with pytest.raises(gg.TracingError, match="item"):
        compiled(x, True)
    _assert_same_picture(before, _picture(model, opt))
    for p in model.parameters():
        assert p._grad is None or p._grad._value is not None
    compiled(x, False)  # and the function still works


def test_scheduler_step_inside_the_step_is_a_clear_error():
    w = gg.ones(2, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    sched = StepLR(opt, step_size=1, gamma=0.5)

    @gg.compile
    def step(x):
        opt.zero_grad()
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        sched.step()
        return loss

    with pytest.raises(gg.TracingError, match=r"opt.param_groups\[0\]\['lr'\].*scheduler"):
        step(gg.ones(2))
    assert opt.param_groups[0]["lr"] == 0.1 and sched.last_epoch == 0
    np.testing.assert_array_equal(w.numpy(), [1.0, 1.0])


def test_a_python_counter_is_a_clear_error():
    counter = {"n": 0}

    @gg.compile
    def f(x):
        counter["n"] += 1
        return x * 2

    with pytest.raises(gg.TracingError, match=r"counter\['n'\].*keep counters outside"):
        f(gg.ones(2))
    assert counter == {"n": 0}


COUNT = 0


def test_a_global_counter_is_a_clear_error():
    @gg.compile
    def f(x):
        global COUNT
        COUNT += 1
        return x * 2

    with pytest.raises(gg.TracingError, match="`COUNT`"):
        f(gg.ones(2))
    assert COUNT == 0


def test_appending_to_a_list_is_a_clear_error():
    losses = []

    @gg.compile
    def f(x):
        out = (x * 2).sum()
        losses.append(out)
        return out

    with pytest.raises(gg.TracingError, match="`losses`.*append them after the call"):
        f(gg.ones(2))
    assert losses == []


def test_a_module_attribute_set_in_forward_is_a_clear_error():
    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            self.calls += 1
            return self.fc(x)

    model = Counting()
    with pytest.raises(gg.TracingError, match="model.calls"):
        gg.compile(lambda x: model(x).sum())(gg.ones(1, 2))
    assert model.calls == 0


def test_optimizer_state_made_by_the_first_step_is_fine():
    model, opt = _setup()

    @gg.compile
    def step(x):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    step(gg.randn(5, 3))
    assert len(opt.state) == 6


def test_train_or_eval_inside_the_step_is_part_of_the_plan():
    """`model.eval()` inside a compiled evaluation step is replayed at every call (as
    the code would run), not an error, and needs no retrace when the caller had switched
    the model back to training in between."""
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))

    def evaluate(x):
        model.eval()
        return model(x).sum()

    compiled = gg.compile(evaluate)
    x = gg.ones(2, 3)
    want = evaluate(x).item()
    for _ in range(3):
        model.train()
        assert compiled(x).item() == pytest.approx(want, rel=1e-6)
        assert not model.training and not model[1].training
    assert compiled.cache_info().traces == 1


def test_python_or_numpy_randomness_inside_the_step_is_a_clear_error():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state

    @gg.compile
    def noisy(x):
        return x + float(rng.standard_normal())

    with pytest.raises(gg.TracingError, match=r"`rng \(a NumPy random generator\)`.*gg.rand"):
        noisy(gg.ones(2))
    assert rng.bit_generator.state == state

    @gg.compile
    def legacy(x):
        return x * float(np.random.rand())

    before = np.random.get_state()[1].copy()
    with pytest.raises(gg.TracingError, match="global random state"):
        legacy(gg.ones(2))
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    np.testing.assert_allclose(gg.compile(lambda x: x * gg.rand(2))(gg.ones(2)).shape, (2,))


_ITER = iter([1.0, 2.0, 3.0])
_COUNT = itertools.count(1)
_PY_RNG = random.Random(0)
_NP_RS = np.random.RandomState(0)
_QUEUE = collections.deque([0.0])
_HISTORY = [0.0] * 100
_CONFIG_MODULE = types.ModuleType("gg_side_effect_state")
_CONFIG_MODULE.calls = 0


def _gen():
    yield from (1.0, 2.0, 3.0)


_GEN = _gen()


def _bump_module():
    _CONFIG_MODULE.calls += 1
    return 1.0


SIDE_EFFECTS = {
    "next() of an iterator": lambda: next(_ITER),
    "itertools.count": lambda: float(next(_COUNT)),
    "a generator": lambda: next(_GEN),
    "a random.Random instance": lambda: _PY_RNG.random(),
    "a np.random.RandomState": lambda: float(_NP_RS.rand()),
    "a deque appended to": lambda: _QUEUE.append(1.0) or 1.0,
    "a list of 100 changed": lambda: _HISTORY.__setitem__(99, 1.0) or 1.0,
    "a counter on a module object": _bump_module,
}


@pytest.mark.parametrize("name", SIDE_EFFECTS)
def test_more_python_side_effects_in_the_step_are_clear_errors(name):
    """Finding: these were consumed once, at trace time, and baked into the plan."""
    read = SIDE_EFFECTS[name]
    fn = gg.compile(lambda x: x * read())
    with pytest.raises(gg.TracingError, match="changed Python state"):
        fn(gg.ones(2))
