"""The NumPy backend's embedding backward (x[idx]'s gradient for an integer idx), which
sums repeated rows by sorting on large gradients. Oracles: np.add.at in float64, and
PyTorch 2.13's nn.Embedding weight gradient through a compiled step."""

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn
from graphgrad.backends.numpy_scatter import SCATTER_SORT_MIN, scatter_rows


@pytest.mark.parametrize("idx_shape, rows, width", [
    ((2048,), 65, 128),        # a language model's batch: sorted path
    ((32, 64), 65, 16),        # a 2-d index (batch, time)
    ((40,), 7, 3),             # small: np.add.at path
    ((SCATTER_SORT_MIN,), 3, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_add_at_with_repeats_and_negative_indices(idx_shape, rows, width, dtype):
    rng = np.random.default_rng(0)
    idx = rng.integers(-rows, rows, idx_shape)
    g = rng.standard_normal(idx_shape + (width,)).astype(dtype)
    want = np.zeros((rows, width))
    np.add.at(want, idx, g.astype(np.float64))
    got = scatter_rows(g, idx, (rows, width))
    assert got.dtype == np.dtype(dtype) and got.shape == (rows, width)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12,
                               atol=1e-5 if dtype == "float32" else 1e-12)


def test_out_of_range_index_raises_index_error():
    g = np.ones((SCATTER_SORT_MIN, 2), np.float32)
    idx = np.zeros(SCATTER_SORT_MIN, np.int64)
    idx[5] = 9
    with pytest.raises(IndexError):
        scatter_rows(g, idx, (4, 2))


def test_compiled_embedding_gradient_matches_torch():
    torch.manual_seed(0)
    ref = torch.nn.Embedding(65, 128)
    emb = nn.Embedding(65, 128)
    emb.load_state_dict({"weight": ref.weight.detach().numpy().copy()})
    idx = np.random.default_rng(1).integers(0, 65, (32, 64))
    w = np.random.default_rng(2).standard_normal((32, 64, 128)).astype(np.float32)
    wt = gg.tensor(w)

    @gg.compile
    def step(i):
        emb.weight.grad = None
        (emb(i) * wt).sum().backward()
        return emb.weight.grad * 1.0

    got = step(gg.tensor(idx)).numpy()
    (ref(torch.tensor(idx)) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(got, ref.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
