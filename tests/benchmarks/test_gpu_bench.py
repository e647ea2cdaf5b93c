"""benchmarks/gpu_bench.py runs end to end, and skips cleanly without a GPU.

Oracles: the script's own contract (exit status 0 and the skip line naming the backend's
reason where cupy is unavailable), and, in `--smoke` mode (tiny sizes on the numpy
backend and torch CPU), agreement of the fused, unfused and PyTorch results it prints
is checked by value here: the first MLP losses and f(x) must match to float32 tolerance.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from graphgrad.backends.cupy_backend import CupyBackend

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_bench.py"


def run(*args):
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.skipif(CupyBackend.availability()[0], reason="a GPU is here: the bench would run")
def test_skips_cleanly_without_a_gpu():
    out = run("--steps", "1", "--rounds", "1")
    reason = CupyBackend.availability()[1]
    assert out.strip() == f"gpu_bench skipped: backend 'cupy' unavailable ({reason})"


def test_smoke_run_prints_both_tables_with_agreeing_results():
    out = run("--smoke", "--steps", "1", "--rounds", "1")
    assert "wide MLP" in out and "fused vs unfused" in out
    losses = [float(v) for v in re.findall(r"(?:compiled|unfused|eager) (\d+\.\d+)", out)]
    assert len(losses) >= 2 and max(losses) - min(losses) < 1e-5
    rel_dy = [float(v) for v in re.findall(r"\|dy\|/\|y\| (\d\.\d+e[-+]\d+)", out)]
    max_dg = [float(v) for v in re.findall(r"max \|dg\| (\d\.\d+e[-+]\d+)", out)]
    assert len(rel_dy) == len(max_dg) >= 1
    assert max(rel_dy) < 1e-5 and max(max_dg) < 1e-4
