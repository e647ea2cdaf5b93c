"""PyTorch's everyday tensor API (engine/ops/tensor_api.py) and gradient hooks.

Oracle: PyTorch 2.13 on the same inputs: values, dtypes, gradients (prod's product rule
with zeros, median's indices), the new_*/ *_as methods, the value-shaped functions, and
`register_hook` (a hook sees the gradient and may replace it, on leaves and non-leaves).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphgrad as gg

M = np.array([[1.0, 0.0, 3.0, -2.0], [2.0, 5.0, -1.0, 0.5], [4.0, -3.0, 2.0, 1.5]])


@pytest.mark.parametrize("call", [
    lambda m, x: m.prod(x),
    lambda m, x: m.prod(x, 1),
    lambda m, x: m.prod(x, 0, keepdim=True),
    lambda m, x: x[:, 1:].prod(dim=-1),
    lambda m, x: m.median(x),
    lambda m, x: m.median(x, 1).values,
    lambda m, x: m.median(x, 0, keepdim=True)[0],
    lambda m, x: m.aminmax(x, dim=1).max,
    lambda m, x: m.masked_select(x, x > 0.7),
], ids=["prod", "prod_dim", "prod_keepdim", "prod_no_zero", "median", "median_dim",
        "median_keepdim", "aminmax", "masked_select"])
def test_values_and_gradients_match_pytorch(call):
    ours, theirs = gg.tensor(M, requires_grad=True), torch.tensor(M, requires_grad=True)
    a, b = call(gg, ours), call(torch, theirs)
    np.testing.assert_allclose(a.numpy(), b.detach().numpy())
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())


def test_integer_prod_and_median_indices():
    ints = np.array([[3, 1, 2], [0, 5, 5]])
    assert gg.prod(gg.tensor(ints), 1).tolist() == torch.prod(torch.tensor(ints), 1).tolist()
    assert gg.prod(gg.tensor(ints.astype(np.int32))).dtype == gg.int64
    assert gg.median(gg.tensor(M), 1).indices.tolist() == \
        torch.median(torch.tensor(M), 1).indices.tolist()


def test_value_shaped_functions_match_pytorch():
    x = np.array([[0, 2, 0], [3, 0, 2]])
    for name, call in {
        "nonzero": lambda m, t: m.nonzero(t),
        "argwhere": lambda m, t: m.argwhere(t),
        "unique": lambda m, t: m.unique(t, return_inverse=True, return_counts=True),
        "bincount": lambda m, t: m.bincount(t.flatten(), minlength=5),
    }.items():
        ours, theirs = call(gg, gg.tensor(x)), call(torch, torch.tensor(x))
        ours = ours if isinstance(ours, tuple) else (ours,)
        theirs = theirs if isinstance(theirs, tuple) else (theirs,)
        for a, b in zip(ours, theirs):
            assert a.tolist() == b.tolist(), name
    assert [t.tolist() for t in gg.nonzero(gg.tensor(x), as_tuple=True)] == \
        [t.tolist() for t in torch.nonzero(torch.tensor(x), as_tuple=True)]


def test_value_shaped_functions_say_why_they_cannot_be_compiled():
    step = gg.compile(lambda x: gg.nonzero(x))
    with pytest.raises(gg.TracingError, match="depends on the values"):
        step(gg.tensor([1.0, 0.0]))


def test_new_and_as_methods_match_pytorch():
    for lib in (gg, torch):
        x = lib.tensor(M, dtype=lib.float64)
        y = lib.ones(4, 3)
        got = [x.new_zeros(2, 3), x.new_ones((2,)), x.new_full((2, 2), 7.0),
               x.new_tensor([1.0, 2.0]), x.type_as(lib.tensor([1], dtype=lib.int32)),
               x.view_as(y), x.reshape_as(y), lib.clone(x), lib.t(x)]
        shapes = [tuple(t.shape) for t in got]
        kinds = [str(t.dtype).replace("torch.", "") for t in got]
        sizes = (x.nelement(), x.element_size(), x.ndimension(), lib.numel(x))
        if lib is gg:
            expected = (shapes, kinds, sizes)
    assert (shapes, kinds, sizes) == expected


def test_register_hook_sees_and_replaces_gradients_as_pytorch():
    results = {}
    for lib in (gg, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        seen = []
        h = x * x
        handle = h.register_hook(lambda g: g.clamp(max=1.0))
        x.register_hook(lambda g, seen=seen: seen.append(g.tolist()))
        (h * lib.tensor([0.5, 2.0, 4.0])).sum().backward(retain_graph=True)
        handle.remove()
        x.grad = None
        (h * 3.0).sum().backward()
        results[lib.__name__] = (seen, x.grad.tolist())
    assert results["graphgrad"] == results["torch"]
    with pytest.raises(gg.AutogradError, match="doesn't require"):
        gg.ones(2).register_hook(print)
