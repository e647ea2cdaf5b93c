"""`DataLoader`: mini-batches over a dataset, in the main process or in worker processes.

Loading runs eagerly, outside any compiled step: the loader yields concrete Tensors that
a compiled `train_step(x, y)` takes as inputs. PyTorch's arguments are accepted with
their meaning: `num_workers` starts real worker processes (workers.py), worth it when
`dataset[i]` does real work (decoding, augmentation); `pin_memory` is accepted and has
nothing to do (NumPy arrays are already host memory; a GPU backend copies on `.to`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ...errors import ArgumentError
from ...generator import Generator
from ...source import user_source
from .dataset import (
    Dataset,
    IterableDataset,
    default_collate,
    global_generator,
    has_batch_getter,
)
from .sampler import BatchSampler, RandomSampler, SequentialSampler
from .workers import WorkerPool


def _checked_int(name: str, value, minimum: int) -> int:
    """PyTorch's argument checks (and their words)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "a positive integer" if minimum > 0 else "a non-negative integer"
        raise ArgumentError(f"{name} should be {kind} value, but got {name}={value!r}",
                            source=user_source())
    return value


class DataLoader:
    """Mini-batches: `for x, y in DataLoader(ds, batch_size=64, shuffle=True)`.

    With `shuffle`, each pass (each `iter`) visits the samples in a new random order drawn
    from `generator` (continuing its stream), or from a Generator seeded from the global
    RNG. `drop_last` drops a final batch smaller than `batch_size`. With `num_workers > 0`
    batches are fetched by that many processes (`persistent_workers` keeps them between
    passes), `prefetch_factor` batches ahead per worker, and arrive in the same order.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 sampler=None, batch_sampler=None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context=None,
                 generator: Generator | None = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = ""):
        self.batch_size = None if batch_size is None else \
            _checked_int("batch_size", batch_size, 1)
        self.num_workers = _checked_int("num_workers", num_workers, 0)
        if num_workers == 0 and (prefetch_factor is not None or persistent_workers):
            raise ArgumentError("prefetch_factor and persistent_workers need num_workers > 0 "
                                "(as in PyTorch)", source=user_source())
        if sampler is not None and shuffle:
            raise ArgumentError("sampler option is mutually exclusive with shuffle",
                                source=user_source())
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ArgumentError("batch_sampler option is mutually exclusive with batch_size, "
                                "shuffle, sampler, and drop_last", source=user_source())
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable and (shuffle or sampler is not None or batch_sampler is not None
                               or num_workers):
            raise ArgumentError("DataLoader with an IterableDataset: shuffle, sampler, "
                                "batch_sampler and num_workers are not supported (the "
                                "dataset yields its own order)", source=user_source())
        self._own_sampler = sampler is None and not self._iterable
        if self._iterable:
            sampler = None
        elif sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle \
                else SequentialSampler(dataset)
        if batch_sampler is not None:  # the user's: it sets the batches (PyTorch's rule)
            self.batch_size, drop_last, self._own_batches = None, False, False
        elif self.batch_size is not None and sampler is not None:
            batch_sampler = BatchSampler(sampler, self.batch_size, drop_last)
            self._own_batches = self._own_sampler
        else:
            self._own_batches = False
        self.dataset, self.shuffle, self.sampler = dataset, shuffle, sampler
        self.batch_sampler = batch_sampler
        self.drop_last, self.collate_fn, self.generator = drop_last, collate_fn, generator
        self.pin_memory, self.timeout = pin_memory, timeout
        self.worker_init_fn, self.multiprocessing_context = worker_init_fn, \
            multiprocessing_context
        self.prefetch_factor = 2 if prefetch_factor is None else \
            _checked_int("prefetch_factor", prefetch_factor, 1)
        self.persistent_workers = persistent_workers
        self._pool: WorkerPool | None = None

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler if self.sampler is not None else self.dataset)

    def _order(self) -> np.ndarray:
        if not self._own_sampler:
            return np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        n = len(self.dataset)  # (the default samplers, as arrays at once)
        if self.shuffle:
            return (self.generator or global_generator()).permutation(n)
        return np.arange(n, dtype=np.int64)

    def _batches(self) -> Iterator[np.ndarray]:
        if not self._own_batches:  # a sampler or batch sampler of the user's
            for batch in self.batch_sampler:
                yield np.asarray(batch, dtype=np.int64)
            return
        order = self._order()
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            yield indices

    def __iter__(self):
        if self._iterable:
            return self._from_iterable()
        if self.batch_sampler is None:  # batch_size=None: samples one by one, unbatched
            return (_converted(self.dataset[int(i)], self.collate_fn) for i in self.sampler)
        if self.num_workers == 0:
            return (self._fetch(indices) for indices in self._batches())
        return self._from_workers()

    def _from_iterable(self):
        if self.batch_size is None:
            yield from (_converted(sample, self.collate_fn) for sample in self.dataset)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield (self.collate_fn or default_collate)(batch)
                batch = []
        if batch and not self.drop_last:
            yield (self.collate_fn or default_collate)(batch)

    def _from_workers(self):
        if self._pool is None:
            base_seed = int(global_generator().permutation(2 ** 20)[0]) * 2 ** 20
            self._pool = WorkerPool(self.num_workers, base_seed, self.dataset, self._fetch,
                                    self.worker_init_fn, self.multiprocessing_context)
        try:
            yield from self._pool.map_ordered(self._batches(),
                                              self.num_workers * self.prefetch_factor)
        finally:
            if not self.persistent_workers:
                self._pool.shutdown()
                self._pool = None

    def _fetch(self, indices: np.ndarray):
        if self.collate_fn is None and has_batch_getter(self.dataset):
            return self.dataset._get_batch(indices)
        samples = [self.dataset[int(i)] for i in indices]
        return (self.collate_fn or default_collate)(samples)

    def __del__(self):  # noqa: D105
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown()


def _converted(sample, collate_fn):
    """An unbatched sample (batch_size=None): collate_fn applied alone, else NumPy arrays
    and numbers made tensors as PyTorch's default_convert does."""
    if collate_fn is not None:
        return collate_fn(sample)
    if isinstance(sample, np.ndarray):
        return default_collate([sample])[0]
    if isinstance(sample, (tuple, list)):  # a list, as default_convert gives (namedtuples
        fields = [_converted(s, None) for s in sample]  # stay what they are)
        return type(sample)(*fields) if hasattr(sample, "_fields") else fields
    if isinstance(sample, dict):
        return {k: _converted(v, None) for k, v in sample.items()}
    return sample
