"""int32, int16 and uint8 tensors are kept as given and promote as in PyTorch 2.13.

Oracle: torch on the same arrays: result dtypes of arithmetic, comparisons, sums and
means, and values; a compiled step taking uint8 images gives eager's numbers.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg

DTYPES = ["uint8", "int16", "int32"]
PAIRS = [("uint8", "int16"), ("uint8", "int32"), ("int16", "int32"), ("uint8", "int64"),
         ("int32", "float32"), ("uint8", "bool")]


def _both(a):
    return gg.tensor(a), torch.tensor(a)


@pytest.mark.parametrize("name", DTYPES)
def test_kept_as_given_and_reduced_like_torch(name):
    a = np.arange(12, dtype=name).reshape(3, 4) * 20
    g, t = _both(a)
    assert g.dtype == np.dtype(name) == getattr(gg, name)
    for fn in (lambda x: x + 1, lambda x: x * 2, lambda x: x.sum(), lambda x: x.sum(1),
               lambda x: x / 255.0, lambda x: x.float().mean(), lambda x: x > 100,
               lambda x: x.max(), lambda x: x.cumsum(0)):
        ours, ref = fn(g), fn(t)
        assert ours.dtype == np.dtype(str(ref.dtype).replace("torch.", "")), fn
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)


@pytest.mark.parametrize("a_name, b_name", PAIRS)
def test_promotion_matches_torch(a_name, b_name):
    a, b = np.ones(3, a_name), np.ones(3, b_name)
    assert (gg.tensor(a) + gg.tensor(b)).dtype == np.dtype(
        str((torch.tensor(a) + torch.tensor(b)).dtype).replace("torch.", ""))


def test_uint8_images_compile():
    images = np.random.default_rng(0).integers(0, 256, (4, 8), dtype=np.uint8)
    w = gg.tensor(np.linspace(-1, 1, 8, dtype=np.float32), requires_grad=True)

    def step(x):
        return ((x / 255.0) @ w).sum()

    compiled = gg.compile(step)
    x = gg.tensor(images)
    assert x.dtype == gg.uint8
    np.testing.assert_allclose(compiled(x).item(), step(x).item(), rtol=1e-6)
    assert gg.int == gg.int32 and gg.short == gg.int16
