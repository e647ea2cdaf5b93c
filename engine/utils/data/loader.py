"""`DataLoader`: mini-batches over a dataset, in the main process or in worker processes.

Loading runs eagerly, outside any compiled step: the loader yields concrete Tensors that
a compiled `train_step(x, y)` takes as inputs. PyTorch's arguments are accepted with
their meaning: `num_workers` starts real worker processes (workers.py), worth it when
`dataset[i]` does real work (decoding, augmentation); `pin_memory` is accepted and has
nothing to do (NumPy arrays are already host memory; a GPU backend copies on `.to`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from ...errors import ArgumentError
from ...generator import Generator
from ...source import user_source
from .dataset import Dataset, default_collate, global_generator, has_batch_getter
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
        self.batch_size = _checked_int("batch_size", batch_size, 1)
        self.num_workers = _checked_int("num_workers", num_workers, 0)
        if num_workers == 0 and (prefetch_factor is not None or persistent_workers):
            raise ArgumentError("prefetch_factor and persistent_workers need num_workers > 0 "
                                "(as in PyTorch)", source=user_source())
        if sampler is not None and shuffle:
            raise ArgumentError("sampler option is mutually exclusive with shuffle",
                                source=user_source())
        if batch_sampler is not None:
            raise ArgumentError("batch_sampler is not supported; use batch_size, shuffle, "
                                "drop_last or a sampler", source=user_source())
        self.dataset, self.shuffle, self.sampler = dataset, shuffle, sampler
        self.drop_last, self.collate_fn, self.generator = drop_last, collate_fn, generator
        self.pin_memory, self.timeout = pin_memory, timeout
        self.worker_init_fn, self.multiprocessing_context = worker_init_fn, \
            multiprocessing_context
        self.prefetch_factor = 2 if prefetch_factor is None else \
            _checked_int("prefetch_factor", prefetch_factor, 1)
        self.persistent_workers = persistent_workers
        self._pool: WorkerPool | None = None

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        n = len(self.dataset)
        if self.shuffle:
            return (self.generator or global_generator()).permutation(n)
        return np.arange(n, dtype=np.int64)

    def _batches(self) -> Iterator[np.ndarray]:
        order = self._order()
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            yield indices

    def __iter__(self):
        if self.num_workers == 0:
            return (self._fetch(indices) for indices in self._batches())
        return self._from_workers()

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

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown()
