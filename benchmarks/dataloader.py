"""DataLoader worker benchmark: one pass over a dataset whose items take real work
(a 64x64 image per item: random crop from 72x72, flip, a 3x3 blur and normalization,
about a millisecond each in NumPy), with `num_workers` 0, 1 and 2.

    python benchmarks/dataloader.py [--items 512] [--batch 32] [--rounds 3]

Prints each setting's median seconds per pass and its speed-up over `num_workers=0`.
Worker processes pay for start-up and for sending batches back, so the gain needs
items that cost more than their transfer, and free cores.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from graphgrad.utils.data import DataLoader, Dataset


class Augmented(Dataset):
    def __init__(self, n: int):
        self.images = np.random.default_rng(0).random((n, 72, 72), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        top, left = rng.integers(0, 9, size=2)
        img = self.images[i, top:top + 64, left:left + 64]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        for _ in range(4):  # a 3x3 box blur, four times
            padded = np.pad(img, 1, mode="edge")
            img = sum(padded[dy:dy + 64, dx:dx + 64] for dy in range(3) for dx in range(3)) / 9
        return ((img - img.mean()) / (img.std() + 1e-6)).astype(np.float32), i % 10


def one_pass(loader) -> float:
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    data = Augmented(args.items)
    base = None
    print(f"{'num_workers':>11}  {'s / pass':>8}  speed-up")
    for workers in (0, 1, 2):
        times = [one_pass(DataLoader(data, batch_size=args.batch, num_workers=workers))
                 for _ in range(args.rounds)]
        median = statistics.median(times)
        base = base or median
        print(f"{workers:>11}  {median:8.3f}  {base / median:7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
