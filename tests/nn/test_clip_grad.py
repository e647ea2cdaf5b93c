"""nn.utils.clip_grad_norm_ and clip_grad_value_ against torch.nn.utils (PyTorch 2.13).

Oracle: torch's functions on the same gradients: the returned total norm and the
clipped gradients (rtol 1e-5), eagerly and inside a compiled training step.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn

GRADS = [np.random.default_rng(i).standard_normal(s).astype(np.float32) * 3
         for i, s in enumerate([(4, 3), (3,), (2, 2)])]


def _setups():
    ours = [gg.tensor(np.zeros_like(g), requires_grad=True) for g in GRADS]
    theirs = [torch.zeros(g.shape, requires_grad=True) for g in GRADS]
    for p, g in zip(theirs, GRADS):
        p.grad = torch.tensor(g)
    return ours, theirs


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("norm_type, max_norm", [(2.0, 1.0), (1.0, 2.0), (float("inf"), 0.5),
                                                 (2.0, 1e3)])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, compiled):
    ours, theirs = _setups()
    w = [gg.tensor(g) for g in GRADS]

    def step():
        for p in ours:
            p.grad = None
        sum((p * g).sum() for p, g in zip(ours, w)).backward()  # grad = g
        total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
        return total, [p.grad for p in ours]

    total, grads = (gg.compile(step) if compiled else step)()
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-5)
    for g, p in zip(grads, theirs):
        np.testing.assert_allclose(g.numpy(), p.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_value_matches_torch():
    ours, theirs = _setups()
    for p, g in zip(ours, GRADS):
        p.grad = gg.tensor(g)
    nn.utils.clip_grad_value_(ours, 1.5)
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy())


def test_nonfinite_norm_raises_when_asked():
    p = gg.tensor([1.0], requires_grad=True)
    p.grad = gg.tensor([float("inf")])
    with pytest.raises(gg.NumericalError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_nonfinite_check_inside_a_compiled_step_is_refused_not_dropped():
    """A compiled plan cannot raise on the norm it computes: asking it to is a clear
    error at trace time (the check was dropped, and an inf gradient made weights NaN)."""
    w = nn.Parameter(gg.ones(2))
    opt = gg.optim.SGD([w], lr=0.1)

    @gg.compile
    def step(x):
        opt.zero_grad()
        (w * x).sum().backward()
        norm = nn.utils.clip_grad_norm_([w], 1.0, error_if_nonfinite=True)
        opt.step()
        return norm

    with pytest.raises(gg.UnsupportedError, match="error_if_nonfinite"):
        step(gg.tensor([float("inf"), 1.0]))
    np.testing.assert_array_equal(w.numpy(), [1.0, 1.0])
