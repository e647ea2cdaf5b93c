"""`DistributedSampler`: each rank of a data-parallel job reads its own share of the data.

PyTorch's rule: all ranks draw the same permutation (seeded by `seed + epoch`; call
`set_epoch` at each epoch for a new one), pad it by repeating indices to a multiple of
the number of ranks (or drop the tail with `drop_last`), and rank r takes every
`num_replicas`-th index starting at r.
"""

from __future__ import annotations

import math

import numpy as np

from ...distributed.state import group
from ...errors import ArgumentError
from ...generator import Generator
from ...source import user_source


class DistributedSampler:
    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_replicas is None or rank is None:
            num_replicas = group().size if num_replicas is None else num_replicas
            rank = group().rank if rank is None else rank
        if not 0 <= rank < num_replicas:
            raise ArgumentError(f"Invalid rank {rank}, rank should be in the interval "
                                f"[0, {num_replicas - 1}]", source=user_source())
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            order = Generator().manual_seed(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n, dtype=np.int64)
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > n:
            order = np.concatenate([order] * math.ceil(self.total_size / n))[:self.total_size]
        return iter(order[self.rank:self.total_size:self.num_replicas].tolist())
