"""More of PyTorch's tensor API against PyTorch 2.13: keyword sizes, randint's forms,
bool scalar keys, setitem values with leading 1s, cat skipping a legacy empty tensor,
tile/diff/div_ forms, backward(inputs=), scatter, scatter_add, index_add, logspace,
vdot, and dot/bmm refusing what torch refuses.

Oracle: torch on the same values (outputs and gradients), or torch's own error.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg

SAME = {
    "zeros(size=)": lambda L: L.zeros(size=(2, 3)),
    "rand(size=) shape": lambda L: L.zeros(L.rand(size=(2,)).shape),
    "randint(high=, size=) shape": lambda L: L.zeros(L.randint(high=5, size=(2,)).shape),
    "x[True]": lambda L: L.arange(6.0).reshape(2, 3)[True],
    "x[False]": lambda L: L.arange(6.0).reshape(2, 3)[False],
    "x[tensor(True)]": lambda L: L.arange(6.0).reshape(2, 3)[L.tensor(True)],
    "cat with a legacy empty": lambda L: L.cat([L.tensor([]), L.tensor([[1.0, 2.0]])]),
    "tile(2, 1)": lambda L: L.arange(6.0).reshape(2, 3).tile(2, 1),
    "diff(prepend, append)": lambda L: L.arange(6.0).reshape(2, 3).diff(
        dim=1, prepend=L.zeros(2, 1), append=L.ones(2, 1)),
    "div_(rounding_mode)": lambda L: L.tensor([5.0, -5.0]).div_(2, rounding_mode="floor"),
    "logspace": lambda L: L.logspace(0, 2, 5),
    "logspace base 2": lambda L: L.logspace(1, 3, 3, base=2),
    "vdot": lambda L: L.vdot(L.tensor([1.0, 2.0]), L.tensor([3.0, 4.0])),
    "index_add_": lambda L: L.zeros(3, 2).index_add_(0, L.tensor([0, 2, 0]), L.ones(3, 2),
                                                      alpha=2),
    "scatter value": lambda L: L.zeros(2, 3).scatter(1, L.tensor([[2], [0]]), 7.0),
}


def _setitem_leading_ones(L):
    y = L.zeros(3)
    y[:] = L.tensor([[1.0, 2.0, 3.0]])
    z = L.zeros(3)
    z[True] = 5.0
    return L.cat([y, z])


SAME["setitem: leading 1s, x[True] ="] = _setitem_leading_ones


@pytest.mark.parametrize("name", SAME)
def test_same_as_torch(name):
    want = SAME[name](torch)
    got = SAME[name](gg)
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("call", [
    lambda L: L.dot(L.ones(2, 2), L.ones(2, 2)),
    lambda L: L.bmm(L.ones(1, 2, 3), L.ones(2, 3, 1)),
])
def test_refused_as_torch(call):
    with pytest.raises(RuntimeError):
        call(torch)
    with pytest.raises(gg.ShapeError):
        call(gg)


@pytest.mark.parametrize("fn", ["scatter", "scatter_add"])
@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("compiled", [False, True])
def test_scatter_family_values_and_gradients(fn, dim, compiled):
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    src = rng.standard_normal((3, 5)).astype(np.float32)
    idx = rng.integers(0, 5 if dim else 3, (3, 5))  # repeats included
    weight = np.arange(15, dtype=np.float32).reshape(3, 5)
    results = []
    for lib in (torch, gg):
        a, s = lib.tensor(x, requires_grad=True), lib.tensor(src, requires_grad=True)

        def step(a, s, lib=lib):
            out = getattr(lib, fn)(a, dim, lib.tensor(idx), s)
            (out * lib.tensor(weight)).sum().backward()
            return out * 1.0
        if lib is gg and compiled:
            step = gg.compile(step)
        out = step(a, s)
        results.append((out.detach().numpy(), a.grad.numpy(), s.grad.numpy()))
    for want, got in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_scatter_index_out_of_range_raises():
    with pytest.raises(IndexError):
        gg.zeros(2, 3).scatter(1, gg.tensor([[3], [0]]), 1.0)
    with pytest.raises(IndexError):
        gg.zeros(2, 3).index_add(0, gg.tensor([-1]), gg.ones(1, 3))


def test_backward_inputs_accumulates_only_into_them_as_torch():
    grads = []
    for lib in (torch, gg):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0, 4.0], requires_grad=True)
        h = a * b
        (h * h).sum().backward(inputs=[a])
        grads.append((a.grad.numpy().copy(), b.grad))
    np.testing.assert_array_equal(grads[1][0], grads[0][0])
    assert grads[0][1] is None and grads[1][1] is None
