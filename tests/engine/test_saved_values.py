"""What the eager autograd graph keeps alive, and when backward frees it (as PyTorch).

Oracles: object lifetimes (weak references to intermediate tensors die as soon as no
VJP reads them), tracemalloc's count of the bytes NumPy holds at the peak of an eager
value-and-gradient step against the same computation written by hand in NumPy, and
PyTorch 2.13 for the gradients of graphs whose intermediates were freed (a freed value
that a VJP still read would fail or change the numbers).
"""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest
import torch

import graphgrad as gg

N = 1 << 16  # elements: above the size under which inputs are always kept


def _x(seed=0):
    return np.random.default_rng(seed).standard_normal(N).astype(np.float64)


def test_an_intermediate_no_vjp_reads_dies_with_the_users_reference():
    x = gg.tensor(_x(), requires_grad=True)
    a = x * 2.0  # read by nothing's VJP: `+` and `sum` read shapes only
    b = a + 1.0
    ref_a, ref_b = weakref.ref(a), weakref.ref(b)
    y = b.sum()
    del a, b
    assert ref_a() is None and ref_b() is None
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_a_result_its_own_vjp_reads_stays_and_its_operand_goes():
    x = gg.tensor(_x(), requires_grad=True)
    a = x * 0.5
    t = gg.tanh(a)  # tanh's VJP reads t, not a
    ref_a, ref_t = weakref.ref(a), weakref.ref(t)
    y = t.sum()
    del a, t
    assert ref_a() is None and ref_t() is not None
    y.backward()
    assert ref_t() is None  # freed by backward, not by the garbage collector
    xt = torch.tensor(_x(), requires_grad=True)
    torch.tanh(xt * 0.5).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_backward_frees_each_nodes_values_as_it_goes():
    """A chain whose saved values all die by the end of backward, without a collection."""
    x = gg.tensor(_x(), requires_grad=True)
    h = gg.sigmoid(gg.exp(x * 0.1) * x)
    refs = [weakref.ref(h)]
    y = (h * h).sum()
    del h
    gc.disable()
    try:
        y.backward()
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def _elementwise_peak(fn) -> int:
    fn()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_eager_step_peak_is_within_1_5x_hand_numpy():
    """benchmarks/peers.py's elementwise value-and-gradient (float32, 1M elements)."""
    xs = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
    x = gg.tensor(xs, requires_grad=True)

    def hand():
        t = np.tanh(0.5 * xs)
        s = 1 / (1 + np.exp(-xs))
        y = (t * s + 0.1 * xs * xs).sum()
        g = 0.5 * (1 - t * t) * s + t * s * (1 - s) + 0.2 * xs
        return y, g

    def eager():
        x.grad = None
        y = (gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x).sum()
        y.backward()
        return y

    ours, theirs = _elementwise_peak(eager), _elementwise_peak(hand)
    assert ours <= 1.5 * theirs, (ours / xs.nbytes, theirs / xs.nbytes)
    np.testing.assert_allclose(x.grad.numpy(), hand()[1], rtol=1e-5, atol=1e-6)


def _both(fn, *arrays):
    """Gradients of fn's sum w.r.t. every argument, in graphgrad and in PyTorch."""
    ours = [gg.tensor(a, requires_grad=True) for a in arrays]
    fn(gg, *ours).sum().backward()
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    fn(torch, *theirs).sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, fn", [
    ("a quotient of results", lambda m, x, y: m.exp(x) / (m.sigmoid(y) + 1.0)),
    ("sqrt and relu read theirs", lambda m, x, y: m.sqrt(m.relu(x * y) + 1.0) * y),
    ("a result read by two nodes", lambda m, x, y: (lambda e: e * y + e.sum())(m.exp(x * 0.1))),
    ("a tanh result reshaped", lambda m, x, y: m.tanh(x + y).reshape(256, -1).sum(0) * 2.0),
])
def test_gradients_through_freed_intermediates_match_torch(name, fn):
    _both(fn, _x(1), _x(2))


def test_matmul_with_a_vector_that_alone_needs_a_gradient():
    """The vector's own value is not kept (only the matrix is read): its gradient is
    formed from shapes and the matrix."""
    v = np.random.default_rng(3).standard_normal(512)
    m = np.random.default_rng(4).standard_normal((512, 300))
    ours = gg.tensor(v, requires_grad=True)
    (gg.tanh(ours * 1.0) @ gg.tensor(m)).sum().backward()
    theirs = torch.tensor(v, requires_grad=True)
    (torch.tanh(theirs * 1.0) @ torch.tensor(m)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)


def test_a_partial_backward_leaves_the_rest_of_the_graph_usable():
    """grad() walks only toward its inputs; a later backward still walks the nodes it
    skipped (whose results it needs) and refuses the ones it freed."""
    a = gg.tensor(_x(5), requires_grad=True)
    b = gg.tensor(_x(6), requires_grad=True)
    t = gg.tanh(a * 1.0)  # read only by the add below
    y = (t + b).sum()
    del t
    (gb,) = gg.autograd.grad(y, [b])
    np.testing.assert_allclose(gb.numpy(), 1.0)
    y.backward()  # the add and the sum kept nothing: walked again, tanh for the first time
    np.testing.assert_allclose(a.grad.numpy(), 1 - np.tanh(_x(5)) ** 2, rtol=1e-12)
    z = (gg.exp(a * 1.0) * b).sum()
    z.backward()
    with pytest.raises(gg.AutogradError, match="second time"):
        z.backward()


def test_retained_and_hooked_intermediates_still_get_their_gradients():
    """retain_grad() and register_hook() on a result whose value no VJP reads: the
    gradient reaches it (the user's reference keeps it; the graph need not)."""
    x = gg.tensor(_x(7), requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.shape))
    (gg.tanh(h) + h).sum().backward()
    expected = 1 - np.tanh(3.0 * _x(7)) ** 2 + 1
    np.testing.assert_allclose(h.grad.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), 3.0 * expected, rtol=1e-12)
    assert seen == [(N,)]
