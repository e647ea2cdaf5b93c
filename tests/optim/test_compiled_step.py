"""A training step under `gg.compile` gives the same numbers as the same code run eagerly.

Oracle: the eager run of the identical step (itself checked against the documented
formulas in test_update_formulas.py). Each optimizer's state is created concrete on
the first step and only updated in place, so the traced step reads and writes it as
state; the learning rate is read at every call, so a scheduler needs no retrace.
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.optim.lr_scheduler import StepLR

STEPS = 100  # the bar: same parameters after 100 steps (rtol 1e-5, float32)

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd momentum dampening": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.2),
    "sgd nesterov decay": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                               weight_decay=0.01),
    "adam amsgrad": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.1),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "rmsprop centered momentum": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5,
                                                          centered=True),
    "adagrad lr decay": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
}


def batches(n=4):
    rng = np.random.default_rng(1)
    return [(gg.tensor(rng.standard_normal((6, 4)), dtype="float32"),
             gg.tensor(rng.integers(0, 3, 6))) for _ in range(n)]


def train(make_opt, compiled, set_to_none=True, schedule=False):
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = make_opt(model.parameters())
    sched = StepLR(opt, step_size=1, gamma=0.5) if schedule else None
    loss_fn = nn.CrossEntropyLoss()

    def train_step(x, y):
        opt.zero_grad(set_to_none=set_to_none)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = gg.compile(train_step) if compiled else train_step
    losses, data = [], batches()
    for i in range(STEPS):
        losses.append(step(*data[i % len(data)]).item())
        if sched is not None:
            sched.step()
    return model, opt, losses, step


def assert_same_run(eager, compiled):
    (m1, o1, l1, _), (m2, o2, l2, _) = eager, compiled
    np.testing.assert_allclose(l2, l1, rtol=1e-6)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(p2.numpy(), p1.numpy(), rtol=1e-5, atol=1e-7)
        s1, s2 = o1.state[p1], o2.state[p2]
        assert set(s1) == set(s2)
        for key in s1:
            np.testing.assert_allclose(s2[key].numpy(), s1[key].numpy(), rtol=1e-5, atol=1e-7,
                                       err_msg=key)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_compiled_step_matches_eager(name):
    eager = train(OPTIMIZERS[name], compiled=False)
    compiled = train(OPTIMIZERS[name], compiled=True)
    assert_same_run(eager, compiled)
    assert compiled[3].cache_info().traces == 1


def test_update_phase_writes_the_named_optimizer_state():
    _, _, _, step = train(OPTIMIZERS["adam amsgrad"], compiled=True)
    graph = step.last.graph
    writes = set(graph.state_writes)
    for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"):
        assert any(w.endswith(f"0.weight.{key}") for w in writes), (key, writes)
    assert any(w.endswith("0.weight") for w in writes)
    phases = {graph[n]["phase"] for n in graph.nx.nodes}
    assert {"forward", "backward", "update"} <= phases


def test_scheduled_lr_is_read_at_every_call_without_retracing():
    eager = train(OPTIMIZERS["adam amsgrad"], compiled=False, schedule=True)
    compiled = train(OPTIMIZERS["adam amsgrad"], compiled=True, schedule=True)
    assert_same_run(eager, compiled)
    assert compiled[3].cache_info().traces == 1


def test_zero_grad_in_place_matches_eager():
    eager = train(OPTIMIZERS["sgd momentum dampening"], compiled=False, set_to_none=False)
    compiled = train(OPTIMIZERS["sgd momentum dampening"], compiled=True, set_to_none=False)
    assert_same_run(eager, compiled)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_grad_kept_from_the_last_step_keeps_its_values(backend):
    """zero_grad() sets .grad to None, so each eager step makes a new gradient tensor; a
    compiled step overwrote the last one in place, changing a reference the user kept.
    With no reference kept, the tensor object is reused (nobody can tell)."""
    if backend == "numba":
        pytest.importorskip("numba")
    model = gg.nn.Linear(3, 1)
    opt = gg.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
        return x  # (an input returned: the whole-plan core must not return it)

    fn = gg.compile(step, backend=backend)
    fn(gg.ones(1, 3))
    kept = model.weight.grad
    fn(gg.full((1, 3), 5.0))
    assert kept.tolist() == [[1.0, 1.0, 1.0]]
    assert model.weight.grad.tolist() == [[5.0, 5.0, 5.0]] and model.bias.grad.tolist() == [1.0]
    del kept
    ids = set()
    for _ in range(3):
        fn(gg.ones(1, 3))
        ids.add(id(model.weight.grad))
    assert len(ids) == 1
