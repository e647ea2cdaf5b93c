"""graphgrad against the peers users would pick, on the same workloads, data and
initialization: hand-written NumPy, graphgrad compiled and eager, PyTorch eager,
torch.compile of a functional step, JAX jit, PyTensor.

    python benchmarks/peers.py                      # the README table (minutes)
    python benchmarks/peers.py --workloads digits wide --systems numpy gg jax
    python benchmarks/peers.py --quick              # smoke test: tiny sizes, no RSS runs

How it measures (and why):
- Time per step: one process per thread setting runs every system on a workload,
  alternating system by system in rounds (machines drift; alternation spreads the
  drift over all systems), after 0.1 s of untimed steps of the same system (the
  previous library's threads spin a while after its last task), and reports the median
  over rounds of each round's mean step time, with the spread (min-max over rounds).
  Thread settings need their own process: XLA reads its thread flags once, at import.
  "default": every library as installed. "1": BLAS, OpenMP, PyTorch, XLA and
  graphgrad's fused kernels pinned to one thread (environment + threadpoolctl).
- Peak RSS and first-call time: one fresh process per (system, workload), default
  threads: the peak resident set (VmHWM) over the first call and a few blocks of
  steps, and that peak minus the resident set before the system was built (after
  its library was imported and the data made): what the system itself needs. The
  first call includes tracing and compiling in a process that has compiled nothing.
- Each system's first loss is checked against hand NumPy's (same data, same
  initialization); a mismatch is flagged in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback

import numpy as np
from peer_systems import SHORT, SYSTEMS, build
from peer_systems.numpy_steps import floors
from peer_systems.table import format_table
from peer_systems.workloads import KEYS, make

ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def _error(exc: BaseException) -> str:
    lines = [ln for ln in traceback.format_exception_only(type(exc), exc)[-1].splitlines()
             if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:160]


def _pin_threads() -> None:
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - only when pinning

    threadpool_limits(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


# Seconds of untimed steps before each block: the worker threads of the library timed
# before (OpenBLAS, OpenMP, XLA's) spin for a while after their last task and took the
# cores from the next system's threads (the wide MLP's GEMM floor ran 1.5x slower right
# after PyTensor's block than after NumPy's), a contention no single-library program
# has. Steps, not a pause: after 0.2 s idle this VM's second core came back slowly, and
# two-threaded steps ran at one thread's speed for their first ~50 ms.
SETTLE = 0.1


def _settle(step) -> None:
    end = time.perf_counter() + SETTLE
    step()
    while time.perf_counter() < end:
        step()


def _block(step, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def _loss(value) -> float:
    return float(np.asarray(value.detach() if hasattr(value, "detach") else value))


def time_workload(w, names, quick, rounds, pinned) -> list[dict]:
    """Alternating rounds of every system on workload `w` in this process."""
    steps, rows = {}, {}
    for name in names:
        try:
            t0 = time.perf_counter()
            step = build(name, w, quick)
            loss = _loss(step())
            if pinned:  # libraries imported by this build start their pools now
                _pin_threads()
            rows[name] = {"first_call_warm": time.perf_counter() - t0, "loss": loss}
            steps[name] = step
        except Exception as exc:  # noqa: BLE001 - reported in the table, not fatal
            rows[name] = {"error": _error(exc)}
    for name, step in floors(w).items():
        steps[name], rows[name] = step, {}
    for step in steps.values():  # warm-up
        for _ in range(3):
            step()
    samples = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            _settle(step)
            samples[name].append(_block(step, w.steps))
    for name, s in samples.items():
        rows[name].update(median=statistics.median(s), lo=min(s), hi=max(s))
    return [{"workload": w.key, "system": name, **row} for name, row in rows.items()]


def child_timing(args) -> None:
    if args.threads == "1":
        _pin_threads()
    for w in _workloads(args).values():
        for row in time_workload(w, args.systems, args.quick, args.rounds, args.threads == "1"):
            print(json.dumps(row), flush=True)


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_rss(args) -> None:
    (name,) = args.systems
    (w,) = _workloads(args).values()
    from peer_systems import module  # noqa: PLC0415

    module(name)  # the library's own import, before the baseline
    before = _rss_mb("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:  # VmHWM := VmRSS: the peak from here on
        f.write("5")
    row = {"workload": w.key, "system": name}
    try:
        t0 = time.perf_counter()
        step = build(name, w, args.quick)
        step()
        row["first_call"] = time.perf_counter() - t0
        for _ in range(3 * w.steps + 5):
            step()
        row.update(peak=_rss_mb("VmHWM:"), before=before)
    except Exception as exc:  # noqa: BLE001
        row["error"] = _error(exc)
    print(json.dumps(row), flush=True)


def _workloads(args):
    ws = make(args.quick, args.workloads)
    for w in ws.values():
        w.steps = max(1, round(w.steps * args.scale))
    return {k: ws[k] for k in args.workloads}


def _run_child(args, extra, env=None) -> list[dict]:
    cmd = [sys.executable, os.path.abspath(__file__), *extra, "--rounds", str(args.rounds),
           "--scale", str(args.scale),
           *(["--quick"] if args.quick else [])]
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})},
                            timeout=3600)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0:
        print(f"child {' '.join(extra)} failed:\n{result.stderr[-2000:]}", file=sys.stderr)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 round")
    parser.add_argument("--workloads", nargs="*", default=None, choices=KEYS)
    parser.add_argument("--systems", nargs="*", default=None,
                        help=f"some of: {' '.join(SHORT)} (default: all)")
    parser.add_argument("--threads", nargs="*", default=None, help="default and/or 1")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply steps per block")
    parser.add_argument("--no-rss", action="store_true", help="skip memory/first-call runs")
    parser.add_argument("--rss", action="store_true", help="memory runs even with --quick")
    parser.add_argument("--no-timing", action="store_true", help="memory/first-call runs only")
    parser.add_argument("--child", choices=["timing", "rss"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.workloads = args.workloads or list(KEYS)
    args.systems = [SHORT.get(s, s) for s in (args.systems or list(SYSTEMS))]
    unknown = [s for s in args.systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown system {unknown[0]!r}: choose from {' '.join(SHORT)}")
    args.rounds = args.rounds or (1 if args.quick else 7)
    if args.child == "timing":
        args.threads = args.threads[0]
        child_timing(args)
        return 0
    if args.child == "rss":
        child_rss(args)
        return 0
    threads = args.threads or (["default"] if args.quick else ["default", "1"])
    common = ["--workloads", *args.workloads]
    timings = {}
    for t in [] if args.no_timing else threads:
        env = ONE_THREAD_ENV if t == "1" else {}
        timings[t] = _run_child(args, ["--child", "timing", "--threads", t, *common,
                                       "--systems", *args.systems], env)
    memory = []
    if args.rss or not (args.no_rss or args.quick):  # a process per (system, workload)
        for w in args.workloads:
            for s in args.systems:
                memory += _run_child(args, ["--child", "rss", "--workloads", w,
                                            "--systems", s])
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M')}; "
          f"{args.rounds} rounds")
    print(format_table(make(args.quick, args.workloads), timings, memory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
