"""The recorded graph is freed with its tensors: eager training keeps flat memory.

Oracle: object lifetimes (weak references to a step's intermediate tensors die when the
step's results are dropped) and the interpreter's count of allocated memory blocks over
a few thousand eager steps: a graph kept alive per step grows it linearly (shown by a
deliberately leaking loop), a flat loop stays within a small constant.
"""

import gc
import sys
import weakref

import graphgrad as gg


def _model():
    w = gg.randn(4, 3, requires_grad=True)
    b = gg.zeros(3, requires_grad=True)
    x, y = gg.randn(8, 4), gg.randn(8, 3)

    def step(seen=None):
        loss = ((gg.tanh(x @ w + b) - y) ** 2).mean()
        if seen is not None:  # the graph before backward() frees what it saved
            seen(loss)
        loss.backward()
        with gg.no_grad():
            w.sub_(0.01 * w.grad)
            b.sub_(0.01 * b.grad)
            w.grad.zero_()
            b.grad.zero_()
        return loss

    return step


def test_intermediates_die_with_the_loss():
    step = _model()
    refs = []

    def seen(loss):
        stack = [loss]
        while stack:
            t = stack.pop()
            refs.append(weakref.ref(t))
            if t._ctx is not None:
                stack.extend(t._ctx.inputs)

    loss = step(seen)
    assert len(refs) > 8
    del loss
    gc.collect()
    alive = [r() for r in refs if r() is not None]
    # Only the leaves and data (owned by the training loop) outlive the step.
    assert all(t.is_leaf for t in alive)


def test_memory_stays_flat_over_thousands_of_steps():
    step = _model()
    for _ in range(200):
        step()
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(2000):
        step()
    gc.collect()
    growth = sys.getallocatedblocks() - before
    # Keeping each step's graph alive costs ~50 blocks per step (100k here).
    assert growth < 2000, f"{growth} more memory blocks allocated after 2000 steps"


def test_the_flatness_check_sees_a_leak():
    step = _model()
    kept = []
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(200):
        kept.append(step())
    gc.collect()
    assert sys.getallocatedblocks() - before > 2000
