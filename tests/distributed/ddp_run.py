"""Data-parallel training runs, started by the tests under mpirun (or alone).

    mpirun -n N python ddp_run.py OUTDIR CONFIG [CONFIG ...] [--fail-rank R [--hang]]

Each CONFIG is `BACKEND:OPTIMIZER:MODE` (e.g. `numpy:adam:compiled`): it trains a small
MLP for 50 steps on a global batch of 64 rows split evenly over the ranks
(DistributedDataParallel averages the gradients), eagerly or compiled, and rank 0 saves
the parameters as OUTDIR/BACKEND-OPTIMIZER-MODE.npz. MODE `single` is the reference: one
process, no DDP, the whole batch. One launch runs every CONFIG in turn (starting MPI
processes is what costs). `--fail-rank R` makes rank R raise in step 3 (with `--hang`:
sleep there instead, so the other ranks' collectives time out; the timeout is then 2 s).
Backend `cupy` is the tests' CPU emulation of CuPy (its NCCL over MPI): the test puts it
on PYTHONPATH.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import graphgrad as gg
import graphgrad.distributed as dist
from graphgrad import nn, optim

STEPS, BATCH = 50, 64


def train(out: Path, config: str, fail_rank: int, hang: bool) -> None:
    backend, optimizer, mode = config.split(":")
    gg.set_default_backend(backend)
    group = dist.group()
    gg.manual_seed(1 + group.rank)  # different on each rank: DDP must broadcast rank 0's
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    if mode == "single":
        gg.manual_seed(1)
        model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
        ranks, rank = 1, 0
    else:
        model = dist.DistributedDataParallel(model, bucket_cap_mb=0.0003)  # several buckets
        ranks, rank = group.size, group.rank
    opt = (optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer == "sgd"
           else optim.Adam(model.parameters(), lr=0.01))
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = gg.compile(step) if mode == "compiled" else step
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((STEPS, BATCH, 8)).astype(np.float32)
    ys = rng.integers(0, 3, (STEPS, BATCH))
    share = BATCH // ranks
    for s in range(STEPS):
        if s == 3 and rank == fail_rank:
            if hang:
                time.sleep(30)
            raise RuntimeError("a planted failure in step 3")
        rows = slice(rank * share, (rank + 1) * share)
        step(gg.tensor(xs[s, rows]), gg.tensor(ys[s, rows]))
    if rank == 0:
        np.savez(out / f"{config.replace(':', '-')}.npz", *[p.numpy() for p in model.parameters()])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--fail-rank", type=int, default=-1)
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()
    dist.init(timeout=2 if args.hang else 60)
    for config in args.configs:
        train(args.out, config, args.fail_rank, args.hang)


if __name__ == "__main__":
    main()
