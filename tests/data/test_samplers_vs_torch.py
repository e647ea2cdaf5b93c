"""Samplers, batch samplers, ConcatDataset / IterableDataset and the DataLoader forms that
use them, against torch.utils.data 2.13.

Oracle: torch on the same data where the order does not depend on the random generator
(sequential orders, batch samplers given as lists, lengths, collated types); for random
samplers, the properties torch documents (a permutation without replacement; weights
that draw in proportion; reproducible with a seeded generator).
"""

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import graphgrad as gg
import graphgrad.utils.data as gud


def _as_lists(batches):
    return [[b.tolist() if hasattr(b, "tolist") else b for b in batch]
            if isinstance(batch, (list, tuple)) else batch.tolist() for batch in batches]


@pytest.mark.parametrize("make", [
    lambda ud, ds: ud.DataLoader(ds, batch_sampler=[[0, 1], [2], [4, 3]]),
    lambda ud, ds: ud.DataLoader(ds, batch_size=2, sampler=ud.SequentialSampler(ds)),
    lambda ud, ds: ud.DataLoader(ds, batch_size=2, sampler=[4, 0, 2], drop_last=True),
    lambda ud, ds: ud.DataLoader(ds, batch_sampler=ud.BatchSampler(
        ud.SequentialSampler(ds), 2, drop_last=False)),
    lambda ud, ds: ud.DataLoader(ds, batch_size=None),
    lambda ud, ds: ud.DataLoader(ds + ds, batch_size=4),
    lambda ud, ds: ud.DataLoader(ud.ConcatDataset([ds, ds]), batch_size=3, drop_last=True),
])
def test_loader_forms_give_torchs_batches(make):
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    y = np.arange(5)
    want = make(tud, tud.TensorDataset(torch.tensor(x), torch.tensor(y)))
    got = make(gud, gud.TensorDataset(gg.tensor(x), gg.tensor(y)))
    assert len(got) == len(want)
    assert _as_lists(got) == _as_lists(want)
    batch = next(iter(got))
    assert type(batch) is type(next(iter(want)))  # a list of fields, as torch's collate


class _Stream(gud.IterableDataset):
    def __iter__(self):
        yield from ({"x": float(i), "y": i} for i in range(5))


class _TorchStream(tud.IterableDataset):
    def __iter__(self):
        yield from ({"x": float(i), "y": i} for i in range(5))


def test_an_iterable_dataset_is_batched_in_its_own_order():
    got = [(b["x"].tolist(), b["y"].tolist()) for b in gud.DataLoader(_Stream(), batch_size=2)]
    want = [(b["x"].tolist(), b["y"].tolist())
            for b in tud.DataLoader(_TorchStream(), batch_size=2)]
    assert got == want
    with pytest.raises(gg.ArgumentError):
        gud.DataLoader(_Stream(), shuffle=True)


def test_random_samplers_as_documented():
    data = list(range(10))
    gen = gg.Generator().manual_seed(0)
    order = list(gud.RandomSampler(data, generator=gen))
    assert sorted(order) == data and len(gud.RandomSampler(data)) == 10
    again = list(gud.RandomSampler(data, generator=gg.Generator().manual_seed(0)))
    assert order == again
    drawn = list(gud.RandomSampler(data, replacement=True, num_samples=25))
    assert len(drawn) == 25 and all(0 <= i < 10 for i in drawn)
    assert sorted(gud.SubsetRandomSampler([3, 5, 7])) == [3, 5, 7]
    weighted = list(gud.WeightedRandomSampler([0.0, 1.0, 3.0], num_samples=4000))
    counts = np.bincount(weighted, minlength=3)
    assert counts[0] == 0 and 2.5 < counts[2] / counts[1] < 3.5
    with pytest.raises(gg.ArgumentError):
        gud.WeightedRandomSampler([1.0, 0.0], num_samples=2, replacement=False)


def test_mutually_exclusive_options_and_introspection_as_torch():
    ds = gud.TensorDataset(gg.arange(6.0))
    with pytest.raises(gg.ArgumentError, match="mutually exclusive"):
        gud.DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    loader = gud.DataLoader(ds, batch_size=4, shuffle=True)
    assert isinstance(loader.sampler, gud.RandomSampler)
    assert isinstance(loader.batch_sampler, gud.BatchSampler) and len(loader) == 2
    assert isinstance(gud.DataLoader(ds).sampler, gud.SequentialSampler)


def test_a_subset_indexed_by_a_list_is_one_lookup_as_torch():
    x = np.arange(10)
    got = gud.Subset(gud.TensorDataset(gg.tensor(x)), [3, 5, 7])[[0, 2]]
    want = tud.Subset(tud.TensorDataset(torch.tensor(x)), [3, 5, 7])[[0, 2]]
    assert [t.tolist() for t in got] == [t.tolist() for t in want]
