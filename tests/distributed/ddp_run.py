"""One data-parallel training run, started by the tests under mpirun (or alone).

    mpirun -n N python ddp_run.py OUT.npz OPTIMIZER MODE [FAIL_RANK [HANG]]

Trains a small MLP for 50 steps on a global batch of 64 rows split evenly over the
ranks (DistributedDataParallel averages the gradients), eagerly or compiled, and rank 0
saves the parameters. With one process and no DDP it is the single-process reference.
FAIL_RANK makes that rank raise in step 3 (with HANG=1: sleep there instead, so the
other ranks' collectives time out; the timeout is then 2 s).
"""

import sys
import time

import numpy as np

import graphgrad as gg
import graphgrad.distributed as dist
from graphgrad import nn, optim

STEPS, BATCH = 50, 64


def main(out, optimizer, mode, fail_rank=-1, hang=0):
    group = dist.init(timeout=2 if hang else 60)
    gg.manual_seed(1 + group.rank)  # different on each rank: DDP must broadcast rank 0's
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    if mode.startswith("single"):
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

    step = gg.compile(step) if mode.endswith("compiled") else step
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
        np.savez(out, *[p.numpy() for p in model.parameters()])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:]))
