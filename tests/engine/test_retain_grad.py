"""`retain_grad()` on non-leaf tensors, and the warning for reading a non-leaf's `.grad`.

Oracle: PyTorch 2.13 run on the same numbers (gradients of intermediate values of a
small network, accumulation over two backward passes, the warning and the errors).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import graphgrad as gg


def _net(lib, x, w1, w2):
    h = (x @ w1).tanh()
    h.retain_grad()
    logits = h @ w2
    logits.retain_grad()
    loss = (logits ** 2).mean()
    return h, logits, loss


def test_intermediate_gradients_match_pytorch():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((4, 3), (3, 5), (5, 2))]
    results = {}
    for lib in (torch, gg):
        x, w1, w2 = (lib.tensor(a, requires_grad=i > 0) for i, a in enumerate(arrays))
        h, logits, loss = _net(lib, x, w1, w2)
        loss.backward(retain_graph=True)
        first = (h.grad.numpy().copy(), logits.grad.numpy().copy())
        loss.backward()  # retained gradients accumulate, as a leaf's do
        results[lib.__name__] = first + (h.grad.numpy(), logits.grad.numpy(),
                                         h.retains_grad, w1.retains_grad)
    for ours, theirs in zip(results["graphgrad"], results["torch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_reading_a_non_leaf_grad_warns_and_gives_none():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.sum().backward()
    with pytest.warns(UserWarning, match="not a leaf"):
        assert y.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is not None  # a leaf: no warning


def test_retain_grad_without_requires_grad_raises():
    with pytest.raises(gg.AutogradError, match="requires_grad=False"):
        gg.tensor([1.0]).retain_grad()


def test_retain_grad_inside_a_compiled_step_says_what_to_do():
    w = gg.tensor([1.0, 2.0], requires_grad=True)

    @gg.compile
    def step(x):
        h = w * x
        h.retain_grad()
        return h.sum()

    with pytest.raises(gg.TracingError, match="return it from the step"):
        step(gg.ones(2))


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph")  # (torch's)
def test_a_second_backward_accumulates_into_the_same_grad_tensor_as_torch():
    """torch adds into .grad in place (a reference kept to it sees the sum); with
    create_graph it makes a new tensor that carries history."""
    for lib in (gg, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        (x * x).sum().backward()
        kept = x.grad
        (x * 3).sum().backward()
        assert kept is x.grad
        np.testing.assert_array_equal(kept.detach().numpy(), [5.0, 7.0, 9.0])
        (x * x).sum().backward(create_graph=True)
        assert x.grad is not kept and x.grad.requires_grad


def test_autograd_backward_takes_sequences_of_tensors_and_gradients_as_torch():
    result = {}
    for lib in (gg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        lib.autograd.backward([x * 2, (x * x).sum()], [lib.tensor([1.0, 3.0]), None])
        result[lib] = x.grad.numpy().copy()
        y = lib.tensor([1.0, 2.0], requires_grad=True)
        lib.autograd.backward([(y * 2).sum(), (y * y).sum()])
        np.testing.assert_array_equal(y.grad.numpy(), [4.0, 6.0])
    np.testing.assert_array_equal(result[gg], result[torch])


@pytest.mark.parametrize("change", [lambda y: y.add_(1), lambda y: y.mul_(3),
                                    lambda y: y.__setitem__(0, 5.0)])
def test_retain_grad_holds_through_an_in_place_op_as_in_torch(change):
    """Finding: the retained node was the one before the in-place op, so `.grad` stayed
    None; PyTorch gives the gradient of the tensor's new value."""
    grads = []
    for lib in (torch, gg):
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        y.retain_grad()
        change(y)
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        grads.append((y.grad.numpy().copy(), x.grad.numpy().copy()))
    np.testing.assert_allclose(grads[1][0], grads[0][0])
    np.testing.assert_allclose(grads[1][1], grads[0][1])
