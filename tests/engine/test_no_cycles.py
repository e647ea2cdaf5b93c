"""Training steps leave no reference cycles, so memory is freed by reference counting alone.

Oracle: the interpreter's cyclic garbage collector. Steps run with it disabled; then
`gc.collect()` under `DEBUG_SAVEALL` lists everything only a cycle kept alive, and no
graphgrad object may be among it (a planted cycle shows the check sees one). The
process's resident memory over 200 steps on 16 MB arrays, with the collector off,
stays flat: a step that leaked its arrays would grow it by gigabytes.
"""

import gc

import numpy as np
import pytest

import graphgrad as gg

nn = gg.nn


def _collected_graphgrad_objects(run) -> list[str]:
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        found = [type(o).__module__ + "." + type(o).__qualname__ for o in gc.garbage
                 if type(o).__module__.startswith("graphgrad")]
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        gc.enable()
    return found


def _training_step():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1),
                          nn.Linear(16, 4))
    opt = gg.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        h = model(x) * 1
        h[:, 1:3] += h[:, :2] * 0.5  # in-place writes through views are part of the step
        h.T[0].mul_(2)
        loss = loss_fn(h, y)
        loss.backward()
        opt.step()
        with gg.no_grad():
            model[0].weight.data[0, 0] = 0.1
        return loss

    return step, gg.randn(6, 8), gg.tensor([0, 1, 2, 3, 0, 1])


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_steps_leave_no_cycles(compiled):
    step, x, y = _training_step()
    if compiled:
        step = gg.compile(step)
        step(x, y)  # the trace, too, must leave none: run it under the check below

    def run():
        for _ in range(3):
            step(x, y)

    assert _collected_graphgrad_objects(run) == []


def test_tracing_leaves_no_cycles():
    step, x, y = _training_step()
    compiled = gg.compile(step)  # alive: dropping it leaves networkx's own graph cycles
    assert _collected_graphgrad_objects(lambda: compiled(x, y)) == []


def test_the_check_sees_a_planted_cycle():
    def run():
        t = gg.ones(3)
        loop = [t]
        loop.append(loop)

    assert _collected_graphgrad_objects(run) == ["graphgrad.tensor.Tensor"]


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_memory_is_flat_over_200_steps_on_16mb_arrays(compiled):
    n = 4 * 1024 * 1024  # float32: 16 MB
    w = gg.tensor(np.full(n, 0.5, np.float32), requires_grad=True)
    x = gg.tensor(np.linspace(-1, 1, n, dtype=np.float32))

    def step(x):
        loss = (x * w).sum()
        loss.backward()
        with gg.no_grad():
            w.sub_(1e-9 * w.grad)
            w.grad = None
        return loss

    if compiled:
        step = gg.compile(step)
    for _ in range(10):
        step(x)
    gc.collect()
    gc.disable()
    try:
        before = _rss()
        for _ in range(200):
            step(x)
        growth = _rss() - before
    finally:
        gc.enable()
    assert growth < 64 * 2 ** 20, f"resident memory grew by {growth / 2 ** 20:.0f} MB"
