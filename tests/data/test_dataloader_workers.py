"""`DataLoader(num_workers=N)`: real worker processes, PyTorch's semantics.

Oracle: the same loader with `num_workers=0` (the batches, their order and dtypes must
be identical), and PyTorch's documented behaviour for worker seeds, `get_worker_info`,
`persistent_workers` and errors raised inside a worker.
"""

import os
import time

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.utils.data import DataLoader, Dataset, TensorDataset, get_worker_info


class Squares(Dataset):
    def __len__(self):
        return 23

    def __getitem__(self, i):
        return {"x": np.full(3, i, dtype=np.float32), "y": i * i, "pid": os.getpid()}


class Noisy(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        time.sleep(0.05)  # long enough that both workers get items
        info = get_worker_info()
        return np.float64(np.random.rand()), info.id, info.seed


class Broken(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 2:
            raise KeyError("sample 2 is missing")
        return np.float32(i)


def batches(loader):
    return [(b["x"].numpy(), b["y"].numpy(), b["x"].dtype) for b in loader]


def test_workers_give_the_same_batches_in_the_same_order():
    serial = DataLoader(Squares(), batch_size=4, shuffle=True,
                        generator=gg.Generator().manual_seed(3))
    parallel = DataLoader(Squares(), batch_size=4, shuffle=True, num_workers=2,
                          generator=gg.Generator().manual_seed(3), pin_memory=True)
    for (x0, y0, d0), (x1, y1, d1) in zip(batches(serial), batches(parallel), strict=True):
        np.testing.assert_array_equal(x0, x1)
        np.testing.assert_array_equal(y0, y1)
        assert d0 == d1 == gg.float32


def test_batches_come_from_other_processes():
    pids = {int(p) for b in DataLoader(Squares(), batch_size=5, num_workers=2)
            for p in b["pid"].tolist()}
    assert os.getpid() not in pids


def test_tensor_dataset_and_drop_last_with_workers():
    ds = TensorDataset(gg.arange(10).float(), gg.arange(10))
    got = [y.tolist() for _, y in DataLoader(ds, batch_size=4, num_workers=2, drop_last=True)]
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_each_worker_is_seeded_differently_and_says_who_it_is():
    out = [b for b in DataLoader(Noisy(), batch_size=1, num_workers=2)]
    seed_of = {int(b[1]): int(b[2]) for b in out}
    assert set(seed_of) == {0, 1} and seed_of[1] == seed_of[0] + 1  # base_seed + worker id
    assert len({float(b[0]) for b in out}) == len(out)
    assert get_worker_info() is None  # the main process is no worker


def test_persistent_workers_are_kept_between_passes():
    loader = DataLoader(Squares(), batch_size=8, num_workers=2, persistent_workers=True)
    first = {int(p) for b in loader for p in b["pid"].tolist()}
    pool = loader._pool
    second = {int(p) for b in loader for p in b["pid"].tolist()}
    processes = set(pool.executor._processes)  # the pool's worker pids
    assert loader._pool is pool and first | second <= processes
    pool.shutdown()


def test_an_error_in_a_worker_reaches_the_loop():
    with pytest.raises(KeyError, match="sample 2 is missing"):
        list(DataLoader(Broken(), batch_size=1, num_workers=2))


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_workers=-1), "num_workers should be a non-negative integer"),
    (dict(persistent_workers=True), "need num_workers > 0"),
    (dict(prefetch_factor=2), "need num_workers > 0"),
])
def test_bad_worker_arguments_raise_like_torch(kwargs, match):
    import torch.utils.data as tud

    with pytest.raises(ValueError):
        tud.DataLoader(list(range(4)), **kwargs)
    with pytest.raises(ValueError, match=match):
        DataLoader(Squares(), **kwargs)
