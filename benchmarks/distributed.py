"""Data-parallel step time on 1 and 2 processes (MPI), compiled, with the time spent in
the gradients' all-reduce, with and without overlapping it with the backward pass.

    python benchmarks/distributed.py [--steps 30]     # starts mpirun -n 1 and -n 2 itself

Workloads: the digits MLP (64-128-128-10, global batch 64, Adam) and the wide MLP
(784-2048-2048-10, global batch 512, SGD). Each process takes its share of the global
batch; the table gives the median time per step on rank 0 and the share of it spent
in collectives (starting them and waiting for them). With overlap (the default) each
bucket's all-reduce is started (MPI Iallreduce) as soon as its gradients exist and
waited for just before the update reads them; `blocking` is the same plan with the
backend's `all_reduce_start` removed, so every all-reduce completes where it is issued.
On a 2-core machine two processes each get one core, so the speed-up is bounded by what
the GEMMs gain from that split, and MPICH progresses a started collective mostly inside
MPI calls (the wait), which bounds what overlap can hide.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORKLOADS = {"digits": ([64, 128, 128, 10], 64, "adam"),
             "wide": ([784, 2048, 2048, 10], 512, "sgd")}


def worker(name: str, steps: int, overlap: bool) -> dict:
    import graphgrad as gg
    import graphgrad.distributed as dist
    from graphgrad import nn, optim

    sizes, batch, opt_name = WORKLOADS[name]
    group = dist.init()
    spent = [0.0]
    start = group.start_all_reduce_host  # (all_reduce_host starts and waits through it)

    def timed_start(buf, op):
        t = time.perf_counter()
        wait = start(buf, op)
        spent[0] += time.perf_counter() - t

        def timed_wait():
            t = time.perf_counter()
            out = wait()
            spent[0] += time.perf_counter() - t
            return out

        return timed_wait

    group.start_all_reduce_host = timed_start
    if not overlap:
        gg.backends.get_backend("numpy").all_reduce_start = None
    gg.manual_seed(0)
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = dist.DistributedDataParallel(nn.Sequential(*layers[:-1]))
    opt = optim.Adam(model.parameters(), 1e-3) if opt_name == "adam" else \
        optim.SGD(model.parameters(), 0.01)
    loss_fn = nn.CrossEntropyLoss()

    @gg.compile
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    share = batch // group.size
    rng = np.random.default_rng(group.rank)
    x = gg.tensor(rng.standard_normal((share, sizes[0])).astype(np.float32))
    y = gg.tensor(rng.integers(0, sizes[-1], share))
    step(x, y)
    times, waits = [], []
    for _ in range(steps):
        group.barrier()
        spent[0] = 0.0
        t = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - t)
        waits.append(spent[0])
    return {"step": statistics.median(times), "collective": statistics.median(waits)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--blocking", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(args.worker, args.steps, not args.blocking)
        import graphgrad.distributed as dist

        if dist.rank() == 0:
            print(json.dumps(result))
        return 0
    mpirun = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or "mpirun"
    print(f"{'workload':<8} {'procs':>5} {'all-reduce':>10} {'ms / step':>10} "
          f"{'in collectives':>15} {'speed-up':>9}")
    for name in WORKLOADS:
        base = None
        for n, mode in ((1, "-"), (2, "blocking"), (2, "overlapped")):
            extra = ["--blocking"] if mode == "blocking" else []
            out = subprocess.run([mpirun, "-n", str(n), sys.executable, __file__,
                                  "--worker", name, "--steps", str(args.steps), *extra],
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            base = base or r["step"]
            print(f"{name:<8} {n:>5} {mode:>10} {r['step'] * 1e3:10.2f} "
                  f"{r['collective'] * 1e3:8.2f} ms {r['collective'] / r['step']:4.0%} "
                  f"{base / r['step']:8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
