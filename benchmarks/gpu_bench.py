"""GPU benchmark: graphgrad on CuPy, compiled (fused kernels) vs unfused, vs PyTorch CUDA eager.

    python benchmarks/gpu_bench.py                 # on a machine with CuPy and a CUDA GPU
    python benchmarks/gpu_bench.py --smoke         # tiny sizes on numpy / torch CPU: checks
                                                   # the script itself, times nothing useful
    python benchmarks/gpu_bench.py --smoke --backend cupy   # tiny sizes on cupy (the test
                                                   # suite runs this under its CPU emulation)

Workloads (benchmarks/gpu_workloads.py), each system timed in alternating rounds
(median per step), every system from the same initial weights and data:

1. wide MLP, batch 512, 784 -> 2048 -> 2048 -> 10, ReLU, cross-entropy, SGD: one training
   step. Target: graphgrad cupy compiled within 1.2x of PyTorch CUDA eager.
2. f(x) = sum(tanh(0.5*x) * sigmoid(x) + 0.1*x*x) and its gradient on 4M float32: fused
   (generated CUDA kernels) vs every pass but fusion vs PyTorch. Targets: fused at least
   3x faster than unfused, and at least half of the GPU's peak memory bandwidth (counting
   the 2 x 16 MiB the step must move: read x, write the gradient).
3. CNN (conv-BN-ReLU-pool x2, linear; batch 128 of 3x32x32) and 4. a transformer encoder
   block (batch 64, 128 tokens, width 256, 8 heads), where the model zoo's layers exist.

The last lines are a compact summary (`SUMMARY ...`, one per figure, PASS/FAIL against
the targets on a GPU). Under the test suite's CPU emulation of CuPy, or with --smoke,
nothing is judged: the figures say nothing about a GPU. Without a usable backend the
script says why and exits 0 (skipped).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import graphgrad as gg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_workloads import WORKLOADS, Settings, Skip  # noqa: E402 (this folder first)

TARGETS = {"wide_mlp": 1.2, "fused_speedup": 3.0, "bandwidth_fraction": 0.5}


def load_torch(device: str):
    """torch and whether `device` works, or (None, reason)."""
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed"
    if device == "cuda" and not torch.cuda.is_available():
        return None, "PyTorch sees no CUDA device"
    return torch, ""


def timed(systems: dict, sync: dict, steps: int, rounds: int) -> dict[str, float]:
    """Median seconds per step of each system, rounds alternating between systems."""
    for name, fn in systems.items():  # warm-up: traces, kernel compiles, allocator pools
        for _ in range(3):
            fn()
        sync[name]()
    samples = {name: [] for name in systems}
    for _ in range(rounds):
        for name, fn in systems.items():
            sync[name]()
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            sync[name]()
            samples[name].append((time.perf_counter() - t0) / steps)
    return {name: statistics.median(s) for name, s in samples.items()}


def syncs(systems, backend, torch):
    def torch_sync():
        if torch is not None and torch.cuda.is_available():
            torch.cuda.synchronize()
    return {name: torch_sync if name.startswith("pytorch") else backend.synchronize
            for name in systems}


def peak_bandwidth(backend) -> float | None:
    """The GPU's peak memory bandwidth in bytes/s: memory clock (kHz) x 2 (double data
    rate) x bus width (bytes). None off a real GPU or where the runtime does not say
    (CUDA 13 dropped memoryClockRate from the device properties; the attribute query
    and NVML are tried next)."""
    if backend.name != "cupy" or getattr(backend, "emulation", None):
        return None
    for read in (_clock_and_bus_from_properties, _clock_and_bus_from_attributes,
                 _clock_and_bus_from_nvml):
        try:
            clock_khz, bus_bits = read()
        except Exception:  # each source may be missing on some CUDA/driver versions
            continue
        if clock_khz and bus_bits:
            return 2 * clock_khz * 1e3 * bus_bits / 8
    return None


def _clock_and_bus_from_properties():
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    return props["memoryClockRate"], props["memoryBusWidth"]


def _clock_and_bus_from_attributes():
    import cupy

    rt, dev = cupy.cuda.runtime, cupy.cuda.Device().id
    return rt.deviceGetAttribute(36, dev), rt.deviceGetAttribute(37, dev)  # cudaDevAttr...


def _clock_and_bus_from_nvml():
    import pynvml

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    mhz = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM)
    return mhz * 1000, pynvml.nvmlDeviceGetMemoryBusWidth(handle)


def describe(backend) -> str:
    device = getattr(backend, "device", None) or "CPU"
    label = f"gpu_bench on backend {backend.name}: {device}"
    if getattr(backend, "emulation", None):
        label += "\nCPU EMULATION of CuPy: code paths only; no figure here is GPU truth"
    return label


# ---------------------------------------------------------------------- report

def report(title, times, ref_name, extra=""):
    print(f"\n{title}")
    ref = times.get(ref_name)
    for name, t in times.items():
        ratio = f"{t / ref:6.2f}x of {ref_name}" if ref else ""
        print(f"  {name:<32} {t * 1e3:9.3f} ms/step   {ratio}")
    if extra:
        print("  " + extra)


def agreement(name: str, results: dict) -> str:
    """How far each system's first result is from graphgrad compiled's."""
    first, *rest = results.items()
    if name != "fused_elementwise":
        return "first-step losses: " + ", ".join(f"{k} {v:.6f}" for k, v in results.items())
    ref = first[1]
    return "vs compiled: " + ", ".join(
        f"{k}: |dy|/|y| {abs(v[0] - ref[0]) / abs(ref[0]):.2e}, max |dg| "
        f"{np.max(np.abs(v[1] - ref[1])):.2e}" for k, v in rest)


def judge(figure: str, value: float, target: float, bigger_is_better: bool, judged: bool):
    ok = value >= target if bigger_is_better else value <= target
    verdict = ("PASS" if ok else "FAIL") if judged else "not judged"
    sign = ">=" if bigger_is_better else "<="
    return f"SUMMARY {figure} {value:.2f} (target {sign} {target}) {verdict}"


def summarize(name, times, run, torch_name, backend, judged) -> list[str]:
    lines = []
    names = list(times)
    compiled, unfused = times[names[0]], times[names[1]]
    if torch_name in times:
        ratio = compiled / times[torch_name]
        target = TARGETS.get(name)
        lines.append(judge(f"{name}_vs_torch", ratio, target, False, judged) if target
                     else f"SUMMARY {name}_vs_torch {ratio:.2f}x (no target)")
    if name == "fused_elementwise":
        lines.append(judge("fused_speedup", unfused / compiled, TARGETS["fused_speedup"],
                           True, judged))
        achieved = run.min_bytes / compiled
        peak = peak_bandwidth(backend)
        if peak:
            lines.append(judge("bandwidth_fraction", achieved / peak,
                               TARGETS["bandwidth_fraction"], True, judged)
                         + f" ({achieved / 1e9:.0f} of {peak / 1e9:.0f} GB/s)")
        else:
            lines.append(f"SUMMARY bandwidth {achieved / 1e9:.1f} GB/s (peak unknown here)")
    return lines


def run_workload(name, settings, backend, args) -> list[str]:
    try:
        run = WORKLOADS[name](settings)
    except Skip as why:
        print(f"\n{name}: skipped ({why})")
        return [f"SUMMARY {name} skipped ({why})"]
    torch_name = f"pytorch {settings.device} eager"
    times = timed(run.systems, syncs(run.systems, backend, settings.torch), args.steps,
                  args.rounds)
    report(name.replace("_", " "), times, torch_name, agreement(name, run.results))
    judged = not args.smoke and not getattr(backend, "emulation", None)
    return summarize(name, times, run, torch_name, backend, judged)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--backend", help="default: cupy, or numpy with --smoke")
    parser.add_argument("--only", nargs="*", choices=sorted(WORKLOADS), help="workloads")
    args = parser.parse_args(argv)
    args.backend = args.backend or ("numpy" if args.smoke else "cupy")
    if args.backend not in gg.backends.available():
        reason = {b.name: b.reason for b in gg.backends.info()}.get(args.backend, "not installed")
        print(f"gpu_bench skipped: backend {args.backend!r} unavailable ({reason})")
        return 0
    backend = gg.backends.get_backend(args.backend)
    on_gpu = args.backend == "cupy" and not getattr(backend, "emulation", None)
    device = "cuda" if on_gpu else "cpu"
    torch, why = load_torch(device)
    print(describe(backend))
    if torch is None:
        print(f"(no PyTorch column: {why})")
    settings = Settings(args.backend, device, args.smoke, torch)
    summary = []
    for name in args.only or list(WORKLOADS):
        summary += run_workload(name, settings, backend, args)
    print()
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
