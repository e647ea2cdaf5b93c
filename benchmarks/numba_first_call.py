"""First call of a compiled step on the Numba backend, cold and warm, in fresh processes.

    python benchmarks/numba_first_call.py                  # digits, 3 cold/warm pairs
    python benchmarks/numba_first_call.py --workloads digits two_layer --pairs 1

"Cold": a process with empty caches (a new GRAPHGRAD_NUMBA_CACHE and NUMBA_CACHE_DIR:
nothing compiled on this machine before). "Warm": a second fresh process on the same
caches (the plan and its helpers load from disk). Each child times (wall clock, and
`cpu`: the process's CPU time for the whole first call, which a busy machine inflates
less; Numba's threads make it exceed the wall time in places), after importing
graphgrad and making the data (as benchmarks/peers.py's first-call column does), the
build plus the first call, split into: importing Numba (the backend's availability
check), building the model, optimizer and compiled function, and the first step (trace,
autodiff, passes and lowering, ~0.1-0.2 s, then Numba compiling the plan, or loading it:
in a warm process mostly the registry set-up Numba does before its first compile or
cache load, which imports SciPy for BLAS).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def child(workload: str) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from peer_systems import build, module  # noqa: PLC0415 - the timed process only
    from peer_systems.workloads import make  # noqa: PLC0415

    module("graphgrad numba")
    w = make(False, [workload])[workload]
    t0, c0 = time.perf_counter(), time.process_time()
    import numba  # noqa: F401, PLC0415 - timed: the backend's first use imports it

    t1 = time.perf_counter()
    step = build("graphgrad numba", w)
    t2 = time.perf_counter()
    step()
    t3, c3 = time.perf_counter(), time.process_time()
    print(json.dumps({"numba_import": t1 - t0, "build": t2 - t1, "first_step": t3 - t2,
                      "first_call": t3 - t0, "cpu": c3 - c0}))


def _run(workload: str, cache: str) -> dict:
    env = {**os.environ, "GRAPHGRAD_NUMBA_CACHE": os.path.join(cache, "graphgrad"),
           "NUMBA_CACHE_DIR": os.path.join(cache, "numba")}
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", workload],
                         capture_output=True, text=True, env=env, timeout=600)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        raise SystemExit(f"child failed:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="*", default=["digits"])
    parser.add_argument("--pairs", type=int, default=3, help="cold/warm pairs per workload")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    keys = ("first_call", "cpu", "numba_import", "build", "first_step")
    print("| workload | process | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for workload in args.workloads:
        rows = {"cold": [], "warm": []}
        for _ in range(args.pairs):
            with tempfile.TemporaryDirectory(prefix="gg-numba-") as cache:
                rows["cold"].append(_run(workload, cache))
                rows["warm"].append(_run(workload, cache))
        for kind, runs in rows.items():
            cells = [f"{statistics.median(r[k] for r in runs):.2f} s" for k in keys]
            print(f"| {workload} | {kind} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
