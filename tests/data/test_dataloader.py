"""Datasets, DataLoader batching/shuffling/collation, random_split.

Oracles: torch.utils.data's documented behaviour written out by hand (batch sizes
ceil(n / b) or floor with drop_last; a shuffled epoch is a permutation; fractional
lengths floor and hand the remainder out round-robin) and NumPy's Generator for the
order a seeded gg.Generator yields.
"""

from collections import namedtuple

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import graphgrad as gg
from graphgrad import data

X = np.arange(20, dtype=np.float64).reshape(10, 2)
Y = np.arange(10) % 3


def dataset():
    return data.TensorDataset(gg.tensor(X, dtype="float32"), gg.tensor(Y))


def test_tensor_dataset_indexes_rows():
    ds = dataset()
    x, y = ds[3]
    assert len(ds) == 10 and x.numpy().tolist() == [6.0, 7.0] and y.item() == 0
    with pytest.raises(ValueError, match="Size mismatch"):
        data.TensorDataset(gg.zeros(3, 2), gg.zeros(4))


@pytest.mark.parametrize("batch_size,drop_last,sizes", [
    (4, False, [4, 4, 2]), (4, True, [4, 4]), (5, False, [5, 5]), (20, False, [10])])
def test_batches_in_order(batch_size, drop_last, sizes):
    loader = data.DataLoader(dataset(), batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(sizes) and [len(b[0]) for b in batches] == sizes
    xs = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_array_equal(xs, X[:sum(sizes)])
    assert batches[0][0].dtype == gg.float32 and batches[0][1].dtype == gg.int64


def test_shuffle_with_a_seeded_generator_is_a_reproducible_permutation():
    def epoch_orders(seed, epochs=2):
        loader = data.DataLoader(dataset(), batch_size=3, shuffle=True,
                                 generator=gg.Generator().manual_seed(seed))
        # Row i of X starts with 2 i, so the first column tells which sample came.
        return [np.concatenate([b[0].numpy()[:, 0] // 2 for b in loader]).astype(int).tolist()
                for _ in range(epochs)]

    first, second = epoch_orders(42)
    assert sorted(first) == list(range(10)) and first != second  # a new order each epoch
    assert epoch_orders(42) == [first, second]
    rng = np.random.default_rng(42)  # a Generator is NumPy's PCG64 seeded the same way
    assert first == rng.permutation(10).tolist() and second == rng.permutation(10).tolist()


def test_shuffle_without_a_generator_follows_gg_manual_seed():
    def order():
        loader = data.DataLoader(dataset(), batch_size=10, shuffle=True)
        return next(iter(loader))[0].numpy()[:, 0].tolist()

    gg.manual_seed(3)
    a = order()
    gg.manual_seed(3)
    assert order() == a
    assert gg.Generator().manual_seed(5).initial_seed() == 5


def test_default_collate_makes_float32_features_and_int64_labels():
    class Pairs(data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full(3, i, dtype=np.float64), i, {"w": 0.5 * i, "name": f"s{i}"}

    x, y, extra = next(iter(data.DataLoader(Pairs(), batch_size=4)))
    assert x.dtype == gg.float32 and x.shape == (4, 3)
    assert y.dtype == gg.int64 and y.tolist() == [0, 1, 2, 3]
    assert extra["w"].dtype == gg.float32 and extra["name"] == ["s0", "s1", "s2", "s3"]
    stacked = data.default_collate([gg.tensor([1.0, 2.0]), gg.tensor([3.0, 4.0])])
    assert stacked.shape == (2, 2)
    with pytest.raises(TypeError, match="default_collate"):
        data.default_collate([object()])


def test_custom_collate_fn_and_batch_size_validation():
    loader = data.DataLoader(dataset(), batch_size=4, collate_fn=lambda batch: len(batch))
    assert list(loader) == [4, 4, 2]
    with pytest.raises(ValueError, match="positive integer"):
        data.DataLoader(dataset(), batch_size=0)


def test_random_split_lengths_fractions_and_disjointness():
    ds = dataset()
    a, b = data.random_split(ds, [7, 3], generator=gg.Generator().manual_seed(0))
    assert len(a) == 7 and len(b) == 3
    assert sorted(a.indices + b.indices) == list(range(10))
    assert a.indices == np.random.default_rng(0).permutation(10).tolist()[:7]
    parts = data.random_split(ds, [0.5, 0.3, 0.2], generator=gg.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [5, 3, 2]
    odd = data.random_split(range(7), [0.5, 0.5], generator=gg.Generator().manual_seed(1))
    assert [len(p) for p in odd] == [4, 3]  # floor(3.5) each, remainder to the first
    with pytest.raises(ValueError, match="Sum of input lengths"):
        data.random_split(ds, [5, 4])
    x, y = a[0]
    assert x.numpy()[0] == X[a.indices[0], 0]


def test_subset_batches_follow_its_indices():
    sub = data.Subset(dataset(), [9, 0, 4])
    x, y = next(iter(data.DataLoader(sub, batch_size=3)))
    assert x.numpy()[:, 0].tolist() == [18.0, 0.0, 8.0] and y.tolist() == [0, 0, 1]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_any_loader_visits_each_sample_at_most_once_in_full_batches(n, batch_size, drop_last,
                                                                    seed):
    ds = data.TensorDataset(np.arange(n, dtype=np.float64), np.arange(n))
    loader = data.DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=drop_last,
                             generator=gg.Generator().manual_seed(seed))
    batches = list(loader)
    assert len(batches) == len(loader)
    seen = [int(v) for x, y in batches for v in y.tolist()]
    assert len(set(seen)) == len(seen)
    assert len(seen) == (n // batch_size * batch_size if drop_last else n)
    assert all(len(y) == batch_size for _, y in batches[:-1])
    assert all(x.dtype == gg.float32 and x.numpy().tolist() == y.numpy().tolist()
               for x, y in batches)


def test_integer_arrays_keep_their_dtype_like_torch():
    import torch.utils.data as tud

    batch = [np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8)]
    assert data.default_collate(batch).dtype == gg.uint8
    assert tud.default_collate(batch).dtype == torch.uint8
    assert data.default_collate([np.int32(1), np.int32(2)]).dtype == gg.int32
    assert data.default_collate([1, 2]).dtype == gg.int64


def test_a_dataset_subclass_that_transforms_samples_is_read_through_getitem():
    """A TensorDataset subclass overriding __getitem__ (an augmentation) was gathered
    row by row from its tensors, skipping the override."""
    class Scaled(data.TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 100, y

    ds = Scaled(gg.arange(6).astype(gg.float32), gg.arange(6))
    assert next(iter(data.DataLoader(ds, batch_size=3)))[0].tolist() == [0.0, 100.0, 200.0]
    sub = data.Subset(ds, [1, 2])
    assert next(iter(data.DataLoader(sub, batch_size=2)))[0].tolist() == [100.0, 200.0]


def test_random_split_refuses_lengths_that_are_not_whole():
    with pytest.raises(gg.ArgumentError, match="non-negative integers"):
        data.random_split(data.TensorDataset(gg.arange(10)), [2.5, 7.5])


def test_namedtuple_samples_stay_namedtuples_and_ragged_arrays_are_named():
    Pair = namedtuple("Pair", "x y")

    class Pairs(data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return Pair(np.full(2, i, np.float32), i)

    batch = next(iter(data.DataLoader(Pairs(), batch_size=2)))
    assert type(batch) is Pair and batch.x.shape == (2, 2) and batch.y.tolist() == [0, 1]
    with pytest.raises(gg.ShapeError, match="different shapes"):
        list(data.DataLoader([np.zeros(2), np.zeros(3)], batch_size=2))
