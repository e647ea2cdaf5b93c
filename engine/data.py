"""`gg.data`: datasets, mini-batches and splits (torch.utils.data's names and behaviour).

Loading runs eagerly, outside any compiled step: a `DataLoader` yields concrete Tensors
that a compiled `train_step(x, y)` takes as inputs. Shuffling draws from a
`gg.Generator`; without one, each epoch's order is seeded from graphgrad's global RNG,
so `gg.manual_seed` makes the whole run reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from . import dtypes
from .creation import randint, tensor
from .ops.shape import stack
from .tensor import Tensor

__all__ = ["Generator", "Dataset", "TensorDataset", "Subset", "DataLoader", "random_split",
           "default_collate"]


class Generator:
    """A seeded source of random orders: `gg.Generator().manual_seed(42)`.

    A new Generator takes its seed from graphgrad's global RNG (so `gg.manual_seed`
    fixes it); `manual_seed` restarts it from a given seed.
    """

    def __init__(self, seed: int | None = None):
        self.manual_seed(_global_seed() if seed is None else seed)

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def permutation(self, n: int) -> np.ndarray:
        """A random permutation of 0..n-1 (int64), advancing the generator."""
        return self._rng.permutation(int(n)).astype(np.int64)


def _global_seed() -> int:
    return int(randint(0, 2 ** 62, size=(1,)).numpy()[0])


class Dataset:
    """A map-style dataset: `len(ds)` samples, `ds[i]` is the i-th (often (x, y))."""

    def __getitem__(self, index: int):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Samples are rows of the given tensors: `ds[i] == (x[i], y[i])`."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else _collate_array(np.asarray(t))
                             for t in tensors)
        n = self.tensors[0].shape[0] if self.tensors[0].ndim else None
        if n is None or any(not t.ndim or t.shape[0] != n for t in self.tensors):
            raise ValueError("Size mismatch between tensors: every tensor needs the same "
                             f"first dimension, got {[t.shape for t in self.tensors]}")

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _get_batch(self, indices: np.ndarray) -> tuple:
        # One gather per tensor instead of one index op per sample and a stack.
        return tuple(t[indices] for t in self.tensors)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        if isinstance(index, (list, np.ndarray)):
            return [self.dataset[self.indices[int(i)]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)

    def _get_batch(self, indices: np.ndarray) -> tuple:
        return self.dataset._get_batch(np.asarray(self.indices, dtype=np.int64)[indices])


# ---------------------------------------------------------------------- collation

def _collate_array(arr: np.ndarray) -> Tensor:
    if arr.dtype.kind == "f":
        return tensor(arr, dtype=dtypes.float32)
    if arr.dtype.kind in "iu":
        return tensor(arr, dtype=dtypes.int64)
    if arr.dtype.kind == "b":
        return tensor(arr, dtype=dtypes.bool_)
    raise TypeError(f"default_collate: cannot make a tensor from arrays of dtype {arr.dtype}")


def default_collate(batch: list):
    """Stack samples into batch Tensors: floats become float32, integers int64.

    Tuples/lists of fields are collated field by field, dicts key by key, strings
    are kept as lists; Tensors keep their dtype.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch)
    if isinstance(elem, (np.ndarray, np.generic)):
        return _collate_array(np.stack([np.asarray(b) for b in batch]))
    if isinstance(elem, (bool, int, float)):
        return _collate_array(np.asarray(batch))
    if isinstance(elem, str):
        return list(batch)
    if isinstance(elem, Mapping):
        return {k: default_collate([d[k] for d in batch]) for k in elem}
    if isinstance(elem, (tuple, list)):
        if any(len(b) != len(elem) for b in batch):
            raise ValueError("default_collate: each sample in a batch must have the same "
                             "number of fields")
        fields = [default_collate(list(f)) for f in zip(*batch)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError("default_collate: a batch must hold Tensors, NumPy arrays, numbers, "
                    f"strings, dicts or tuples/lists of them; found {type(elem).__name__}")


# ---------------------------------------------------------------------- loading

class DataLoader:
    """Mini-batches over a dataset: `for x, y in DataLoader(ds, batch_size=64, shuffle=True)`.

    With `shuffle`, each pass (each `iter`) visits the samples in a new random order
    drawn from `generator` (continuing its stream), or from a Generator seeded from the
    global RNG. `drop_last` drops a final batch smaller than `batch_size`.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, collate_fn: Callable | None = None,
                 generator: Generator | None = None):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size should be a positive integer, got {batch_size!r}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.drop_last, self.collate_fn, self.generator = drop_last, collate_fn, generator

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            order = (self.generator or Generator()).permutation(n)
        else:
            order = np.arange(n, dtype=np.int64)
        for start in range(0, n, self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            yield self._fetch(indices)

    def _fetch(self, indices: np.ndarray):
        if self.collate_fn is None and _has_batch_getter(self.dataset):
            return self.dataset._get_batch(indices)
        samples = [self.dataset[int(i)] for i in indices]
        return (self.collate_fn or default_collate)(samples)


def _has_batch_getter(dataset) -> bool:
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return isinstance(dataset, TensorDataset)


def random_split(dataset: Dataset, lengths: Sequence[float],
                 generator: Generator | None = None) -> list[Subset]:
    """Split into non-overlapping random Subsets of the given lengths (or fractions)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(0 <= f <= 1 for f in lengths) and math.isclose(sum(lengths), 1) \
            and sum(lengths) != n:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input "
                         f"dataset ({sum(lengths)} vs {n})")
    order = (generator or Generator()).permutation(n).tolist()
    out, offset = [], 0
    for length in lengths:
        out.append(Subset(dataset, order[offset:offset + int(length)]))
        offset += int(length)
    return out
