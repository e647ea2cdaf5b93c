"""Worker processes for `DataLoader(num_workers=N)`, as in PyTorch: each worker holds the
dataset, fetches and collates whole batches, and sends them back; the loader keeps
`prefetch_factor` batches per worker in flight and yields them in order.

Batches cross the process boundary as NumPy arrays (a Tensor becomes its host array and
is rebuilt on the loader's side), so any backend's tensors and any collate function's
structure (tuples, lists, dicts) survive the trip. Each worker seeds NumPy's and
graphgrad's generators with `base_seed + worker_id` (`get_worker_info()` says which
worker it is), so random augmentations differ across workers and repeat across runs.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from ...creation import manual_seed, tensor
from ...tensor import Tensor


@dataclass(frozen=True)
class WorkerInfo:
    """What `get_worker_info()` returns inside a worker process (None in the main one)."""

    id: int
    num_workers: int
    seed: int
    dataset: object


_info: WorkerInfo | None = None
_fetch: Callable | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's id, count, seed and dataset copy; None outside a loader's worker."""
    return _info


@dataclass(frozen=True)
class _HostTensor:
    array: np.ndarray
    requires_grad: bool


def to_host(obj):
    """Tensors replaced by their host arrays, recursively, so the batch pickles cheaply."""
    if isinstance(obj, Tensor):
        return _HostTensor(obj.numpy(), obj.requires_grad)
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_host(o) for o in obj)
    if isinstance(obj, dict):
        return {k: to_host(v) for k, v in obj.items()}
    return obj


def from_host(obj):
    if isinstance(obj, _HostTensor):
        return tensor(obj.array, dtype=obj.array.dtype, requires_grad=obj.requires_grad)
    if isinstance(obj, (tuple, list)):
        return type(obj)(from_host(o) for o in obj)
    if isinstance(obj, dict):
        return {k: from_host(v) for k, v in obj.items()}
    return obj


def _start_worker(ids, num_workers: int, base_seed: int, dataset, fetch, init_fn) -> None:
    global _info, _fetch
    worker_id = ids.get()  # each process takes the next id once
    seed = base_seed + worker_id
    _info, _fetch = WorkerInfo(worker_id, num_workers, seed, dataset), fetch
    np.random.seed(seed % 2 ** 32)
    manual_seed(seed)
    if init_fn is not None:
        init_fn(worker_id)


def _run(indices: np.ndarray):
    return to_host(_fetch(indices))


class WorkerPool:
    """`num_workers` processes fetching batches of one loader."""

    def __init__(self, num_workers: int, base_seed: int, dataset, fetch: Callable,
                 init_fn: Callable | None, context: str | None):
        ctx = multiprocessing.get_context(context)
        ids = ctx.Queue()
        for i in range(num_workers):
            ids.put(i)
        self.executor = ProcessPoolExecutor(
            num_workers, mp_context=ctx, initializer=_start_worker,
            initargs=(ids, num_workers, base_seed, dataset, fetch, init_fn))

    def map_ordered(self, batches, window: int):
        """Fetch each index array of `batches` in a worker, at most `window` in flight,
        yielding the batches in order."""
        pending = []
        for indices in batches:
            pending.append(self.executor.submit(_run, indices))
            if len(pending) >= window:
                yield from_host(pending.pop(0).result())
        for future in pending:
            yield from_host(future.result())

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
