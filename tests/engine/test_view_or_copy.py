"""Which functions return a view (writes to the result reach the input) and which a copy.

Oracle: PyTorch 2.13 running the same function on the same float32 tensor, then
`result.add_(1000)`: the input changed (a view) or not (a copy), and the same input
values and version counter afterwards.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg

X = np.arange(24.0, dtype=np.float32).reshape(4, 6)

FUNCTIONS = {
    "flip": lambda t: t.flip(0),
    "flip_none": lambda t: t.flip(()),
    "roll": lambda t: t.roll(1, 0),
    "T": lambda t: t.T,
    "mT": lambda t: t.mT,
    "split": lambda t: t.split(2, 0)[1],
    "chunk": lambda t: t.chunk(2, 1)[1],
    "unbind": lambda t: t.unbind(0)[1],
    "narrow": lambda t: t.narrow(1, 1, 2),
    "squeeze": lambda t: t[None].squeeze(0),
    "unsqueeze": lambda t: t.unsqueeze(0),
    "flatten": lambda t: t.flatten(),
    "flatten_of_transpose": lambda t: t.t().flatten(),
    "reshape_of_slice": lambda t: t[:, 1:].reshape(-1),
    "view": lambda t: t.view(-1),
    "tril": lambda t: t.tril(),
    "index_list": lambda t: t[[0, 1]],
    "mask": lambda t: t[t > 3],
    "none": lambda t: t[None],
    "ellipsis": lambda t: t[..., 0],
    "step": lambda t: t[::2],
    "detach": lambda t: t.detach(),
    "data": lambda t: t.data,
    "clone": lambda t: t.clone(),
    "contiguous": lambda t: t.contiguous(),
    "contiguous_of_transpose": lambda t: t.t().contiguous(),
    "float": lambda t: t.float(),
    "to_same_dtype": lambda t: t.to(t.dtype),
    "double": lambda t: t.double(),
}


def _after_write(lib, fn):
    t = lib.tensor(X.copy())
    out = fn(t)
    out.add_(1000.0)
    return t.numpy().copy(), t._version


@pytest.mark.parametrize("name", FUNCTIONS)
def test_view_or_copy_as_pytorch(name):
    (ours, our_version), (theirs, their_version) = (
        _after_write(lib, FUNCTIONS[name]) for lib in (gg, torch))
    np.testing.assert_array_equal(ours, theirs)
    assert our_version == their_version
