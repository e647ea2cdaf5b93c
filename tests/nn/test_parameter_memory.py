"""`nn.Parameter(t)` shares t's memory and version counter, as in PyTorch.

Oracle: PyTorch 2.13 running the same statements (values of both tensors, their
versions, whether backward refuses a saved tensor changed through the other name),
eagerly; and compiled, a training step's update of the parameter is seen through `t`.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
import graphgrad.nn as nn


def _script(lib, nn_mod):
    """Writes through `t`, through a view of `t` and through `p` (under no_grad)."""
    t = lib.zeros(4)
    v = t[:2]
    p = nn_mod.Parameter(t)
    seen = [(p.detach().numpy().copy(), p._version)]
    t.add_(1.0)
    seen.append((p.detach().numpy().copy(), p._version))
    v.fill_(5.0)
    seen.append((p.detach().numpy().copy(), p._version))
    with lib.no_grad():
        p.mul_(3.0)
    seen.append((t.numpy().copy(), t._version))
    seen.append((v.numpy().copy(), v._version))
    return seen


def test_writes_to_either_name_are_seen_by_the_other():
    ours, theirs = _script(gg, nn), _script(torch, torch.nn)
    for (a, va), (b, vb) in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
        assert va == vb


@pytest.mark.parametrize("lib, nn_mod", [(gg, nn), (torch, torch.nn)])
def test_a_write_through_t_after_p_was_saved_is_refused_at_backward(lib, nn_mod):
    t = lib.ones(3)
    p = nn_mod.Parameter(t)
    y = (p * p).sum()
    t.add_(1.0)
    with pytest.raises((gg.AutogradError, RuntimeError), match="in-?place operation"):
        y.backward()


def test_gradient_goes_to_the_parameter_and_t_stays_a_plain_tensor():
    t = gg.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    (p * p).sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), [2.0, 4.0])
    assert not t.requires_grad and t.grad is None and p.is_leaf


def test_a_compiled_update_of_the_parameter_is_seen_through_t():
    t = gg.ones(2, 3)
    lin = nn.Linear(3, 2, bias=False)
    lin.weight = nn.Parameter(t)
    opt = gg.optim.SGD(lin.parameters(), lr=0.5)

    @gg.compile
    def step(x):
        opt.zero_grad()
        loss = lin(x).sum()
        loss.backward()
        opt.step()
        return loss

    x = gg.ones(4, 3)
    step(x)
    step(x)
    np.testing.assert_allclose(t.numpy(), np.full((2, 3), 1.0 - 2 * 0.5 * 4))
    np.testing.assert_allclose(lin.weight.detach().numpy(), t.numpy())


def test_a_parameter_of_a_view_is_a_copy_and_says_so():
    big = gg.zeros(2, 3)
    with pytest.warns(UserWarning, match="holds a copy"):
        p = nn.Parameter(big[0])
    with gg.no_grad():
        p.add_(1.0)
    assert big.numpy().sum() == 0.0
