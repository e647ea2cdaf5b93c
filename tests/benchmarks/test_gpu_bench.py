"""benchmarks/gpu_bench.py runs end to end, and skips cleanly without a GPU.

Oracles: the script's own contract (exit status 0 and the skip line naming the backend's
reason where cupy is unavailable; a summary line per figure), and, in `--smoke` mode
(tiny sizes on the numpy backend and torch CPU, and on the cupy backend under the CPU
emulation of CuPy: the GPU code paths, not GPU figures), agreement of the fused, unfused
and PyTorch results it prints is checked by value here: the first MLP losses and f(x)
must match to float32 tolerance.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from cupy_emulation import subprocess_env, usable

from graphgrad.backends.cupy_backend import CupyBackend

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_bench.py"


def run(*args, env=None):
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.skipif(CupyBackend.availability()[0], reason="a GPU is here: the bench would run")
def test_skips_cleanly_without_a_gpu():
    out = run("--steps", "1", "--rounds", "1")
    reason = CupyBackend.availability()[1]
    assert out.strip() == f"gpu_bench skipped: backend 'cupy' unavailable ({reason})"


def check_smoke_output(out):
    assert "wide mlp" in out and "fused elementwise" in out
    assert "SUMMARY wide_mlp_vs_torch" in out and "SUMMARY fused_speedup" in out
    losses = [float(v) for v in re.findall(r"(?:compiled|unfused|eager) (\d+\.\d+)", out)]
    assert len(losses) >= 2 and max(losses) - min(losses) < 1e-5
    rel_dy = [float(v) for v in re.findall(r"\|dy\|/\|y\| (\d\.\d+e[-+]\d+)", out)]
    max_dg = [float(v) for v in re.findall(r"max \|dg\| (\d\.\d+e[-+]\d+)", out)]
    assert len(rel_dy) == len(max_dg) >= 1
    assert max(rel_dy) < 1e-5 and max(max_dg) < 1e-4


def test_smoke_run_prints_both_tables_with_agreeing_results():
    check_smoke_output(run("--smoke", "--steps", "1", "--rounds", "1"))


@pytest.mark.skipif(not usable()[0], reason=f"CuPy emulation unusable: {usable()[1]}")
def test_smoke_run_on_emulated_cupy_is_labelled_and_agrees():
    out = run("--smoke", "--backend", "cupy", "--steps", "1", "--rounds", "1",
              env=subprocess_env())
    assert "CPU EMULATION of CuPy" in out and "PASS" not in out and "FAIL" not in out
    check_smoke_output(out)
