"""Datasets, their collation into batches, and random splits (torch.utils.data's names).

Shuffling and splitting draw from a `gg.Generator`; without one, the order is seeded
from graphgrad's global RNG, so `gg.manual_seed` makes the whole run reproducible.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence

import numpy as np

from ... import dtypes
from ...creation import randint, tensor
from ...errors import ArgumentError, ArgumentTypeError, IndexingError, ShapeError
from ...generator import Generator
from ...ops.shape import stack
from ...source import user_source
from ...tensor import Tensor

__all__ = ["Generator", "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "ChainDataset", "random_split", "default_collate"]


def global_generator() -> Generator:
    """A Generator seeded from graphgrad's global RNG: what shuffling and splitting use
    without a `generator=`, so `gg.manual_seed` makes the whole run reproducible."""
    return Generator().manual_seed(int(randint(0, 2 ** 62, size=(1,)).numpy()[0]))


class Dataset:
    """A map-style dataset: `len(ds)` samples, `ds[i]` is the i-th (often (x, y))."""

    def __getitem__(self, index: int):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples (`__iter__`) rather than indexed ones: a DataLoader batches
    them in the order they come (no sampler, no shuffle)."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Iterable datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)

    def __iter__(self):
        for d in self.datasets:
            yield from d


class ConcatDataset(Dataset):
    """Datasets one after another: `len` is the sum, index i falls in the dataset whose
    range holds it (negative indices count from the end)."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ArgumentError("datasets should not be an empty iterable",
                                source=user_source())
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise ArgumentError("ConcatDataset does not support IterableDataset",
                                source=user_source())
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if not -n <= index < n:
            raise IndexingError(f"index {index} is out of range for a ConcatDataset of "
                                f"length {n}", source=user_source())
        index %= n
        k = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[k - 1] if k else 0
        return self.datasets[k][index - start]


class TensorDataset(Dataset):
    """Samples are rows of the given tensors: `ds[i] == (x[i], y[i])`."""

    def __init__(self, *tensors):
        if not tensors:
            raise ArgumentError("TensorDataset needs at least one tensor", source=user_source())
        self.tensors = tuple(t if isinstance(t, Tensor) else _collate_array(np.asarray(t))
                             for t in tensors)
        n = self.tensors[0].shape[0] if self.tensors[0].ndim else None
        if n is None or any(not t.ndim or t.shape[0] != n for t in self.tensors):
            raise ArgumentError("Size mismatch between tensors: every tensor needs the same "
                                f"first dimension, got {[t.shape for t in self.tensors]}",
                                source=user_source())

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _get_batch(self, indices: np.ndarray) -> list:
        # One gather per tensor instead of one index op per sample and a stack (a list,
        # as PyTorch's collate of tuple samples)
        return [t[indices] for t in self.tensors]


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        if isinstance(index, (list, np.ndarray)):  # one lookup of them all, as PyTorch's
            return self.dataset[[self.indices[int(i)] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)

    def _get_batch(self, indices: np.ndarray) -> list:
        return self.dataset._get_batch(np.asarray(self.indices, dtype=np.int64)[indices])


# ---------------------------------------------------------------------- collation

def _collate_array(arr: np.ndarray) -> Tensor:
    if arr.dtype.kind == "f":
        return tensor(arr, dtype=dtypes.float32)
    if arr.dtype.kind in "iu":  # uint8 images stay uint8, as PyTorch's collate keeps them
        return tensor(arr, dtype=arr.dtype if arr.dtype in dtypes.SUPPORTED else dtypes.int64)
    if arr.dtype.kind == "b":
        return tensor(arr, dtype=dtypes.bool_)
    raise ArgumentTypeError(f"default_collate: cannot make a tensor from arrays of dtype "
                            f"{arr.dtype}", source=user_source())


def default_collate(batch: list):
    """Stack samples into batch Tensors: floats become float32, integer arrays keep their
    dtype where graphgrad has it (uint8 images stay uint8; Python ints become int64).

    Tuples/lists of fields are collated field by field, dicts key by key, strings
    are kept as lists; Tensors keep their dtype.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch)
    if isinstance(elem, (np.ndarray, np.generic)):
        shapes = {np.shape(b) for b in batch}
        if len(shapes) > 1:
            raise ShapeError(f"default_collate: arrays of different shapes in one batch "
                             f"({sorted(shapes)}): stack needs one shape (pad them, or "
                             "give the DataLoader a collate_fn)", source=user_source())
        return _collate_array(np.stack([np.asarray(b) for b in batch]))
    if isinstance(elem, (bool, int, float)):
        return _collate_array(np.asarray(batch))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {k: default_collate([d[k] for d in batch]) for k in elem}
    if isinstance(elem, (tuple, list)):
        if any(len(b) != len(elem) for b in batch):
            raise ArgumentError("default_collate: each sample in a batch must have the same "
                                "number of fields", source=user_source())
        fields = [default_collate(list(f)) for f in zip(*batch)]
        if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple stays one
            return type(elem)(*fields)
        return fields  # (a list for tuple samples too, as PyTorch's collate)
    raise ArgumentTypeError("default_collate: a batch must hold Tensors, NumPy arrays, numbers, "
                            f"strings, dicts or tuples/lists of them; found {type(elem).__name__}",
                            source=user_source())


def has_batch_getter(dataset) -> bool:
    """Whether batches can be gathered at once (TensorDataset rows) instead of per sample."""
    while isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        dataset = dataset.dataset
    # (only TensorDataset's own rows: a subclass's __getitem__ may transform a sample)
    return isinstance(dataset, TensorDataset) and \
        type(dataset).__getitem__ is TensorDataset.__getitem__


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
    if any(int(length) != length or length < 0 for length in lengths):
        raise ArgumentError(f"random_split: lengths must be non-negative integers, or "
                            f"fractions summing to 1, got {lengths}", source=user_source())
    if sum(lengths) != n:
        raise ArgumentError("Sum of input lengths does not equal the length of the input "
                            f"dataset ({sum(lengths)} vs {n})", source=user_source())
    order = (generator or global_generator()).permutation(n).tolist()
    out, offset = [], 0
    for length in lengths:
        out.append(Subset(dataset, order[offset:offset + int(length)]))
        offset += int(length)
    return out
