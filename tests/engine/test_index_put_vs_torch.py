"""Indexing with integers and index tensors mixed, and setitem with index tensors
(index_put), against PyTorch 2.13: shapes, values and gradients, eagerly and compiled.

Oracle: torch on the same values. PyTorch applies integer indices first (`x[0, :, [1,
2]]` is `x[0][:, [1, 2]]`), where NumPy would move the indexed dims to the front; and a
setitem whose index repeats keeps the last value written (graphgrad averaged them).
"""

import numpy as np
import pytest
import torch

import graphgrad as gg

KEYS = [
    lambda L: (0, slice(None), L.tensor([1, 2])),
    lambda L: (L.tensor([0, 1]), 0, L.tensor([1, 2])),
    lambda L: (0, L.tensor([1, 2]), L.tensor([0, 1])),
    lambda L: (slice(None), -1, L.tensor([1, 2])),
    lambda L: (None, 0, slice(None), L.tensor([3, 2])),
    lambda L: (Ellipsis, 0, L.tensor([1, 2])),
    lambda L: (1, slice(0, 2), L.tensor([[0, 1], [2, 3]])),
]


@pytest.mark.parametrize("key", KEYS, ids=range(len(KEYS)))
@pytest.mark.parametrize("compiled", [False, True])
def test_mixed_integer_and_tensor_indices_read_as_torchs(key, compiled):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    want = torch.tensor(x)[key(torch)].numpy()
    fn = (lambda t: t[key(gg)]) if not compiled else gg.compile(lambda t: t[key(gg)] * 1.0)
    got = fn(gg.tensor(x)).numpy()
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("key", KEYS, ids=range(len(KEYS)))
def test_mixed_integer_and_tensor_indices_write_as_torchs(key):
    x = np.zeros((2, 3, 4), np.float32)
    t = torch.tensor(x)
    shape = t[key(torch)].shape
    value = np.arange(1, 1 + int(np.prod(shape)), dtype=np.float32).reshape(shape)
    t[key(torch)] = torch.tensor(value)
    g = gg.tensor(x)
    g[key(gg)] = gg.tensor(value)
    np.testing.assert_array_equal(g.numpy(), t.numpy())


@pytest.mark.parametrize("compiled", [False, True])
def test_a_repeated_index_keeps_the_last_value_written_and_torchs_gradients(compiled):
    def step(lib, w, v):
        y = w * 1
        y[lib.tensor([0, 0, 2])] = v
        return (y * lib.tensor([1.0, 2.0, 3.0, 4.0])).sum(), y

    tw, tv = torch.ones(4, requires_grad=True), torch.tensor([5.0, 6.0, 7.0], requires_grad=True)
    tloss, ty = step(torch, tw, tv)
    tloss.backward()
    gw, gv = gg.ones(4, requires_grad=True), gg.tensor([5.0, 6.0, 7.0], requires_grad=True)

    def ours(w, v):
        loss, y = step(gg, w, v)
        loss.backward()
        return y * 1.0
    y = (gg.compile(ours) if compiled else ours)(gw, gv)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())  # [6, 1, 7, 1]
    np.testing.assert_array_equal(gw.grad.numpy(), tw.grad.numpy())
    np.testing.assert_array_equal(gv.grad.numpy(), tv.grad.numpy())


def test_an_integer_tensor_with_a_repeated_index_keeps_a_value_assigned():
    x = gg.zeros(3, dtype=gg.int64)
    x[gg.tensor([0, 0, 1])] = gg.tensor([1, 2, 4])
    assert x.tolist() == [2, 4, 0]  # (averaging gave 1, a value nobody assigned)
