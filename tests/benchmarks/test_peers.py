"""benchmarks/peers.py runs end to end in --quick mode and its systems agree.

Oracles: the script's contract (exit status 0, one Markdown row per system and
workload, ratios to hand NumPy), and agreement by value: every system's first loss on
a workload is checked by the script against hand-written NumPy's (same data, same
initialization) and flagged with "≠" when it differs; no row may carry that flag. The
memory child is run for one cheap system to keep its path working.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "peers.py"


def run(*args):
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "failed" not in result.stderr, result.stderr[-3000:]
    return result.stdout


def rows(out):
    return [line.split("|")[1:-1] for line in out.splitlines()
            if line.startswith("| ") and "---" not in line][1:]


def test_quick_table_has_every_system_and_they_agree():
    # JAX is a benchmark peer, not a test dependency: it joins the table where installed
    has_jax = importlib.util.find_spec("jax") is not None
    systems = ["numpy (hand)", "graphgrad compiled", "graphgrad eager", "torch eager"] + \
        ["jax jit"] * has_jax
    out = run("--quick", "--workloads", "temp_idx", "two_layer", "elementwise",
              "--systems", "numpy", "gg", "gg-eager", "torch", *["jax"] * has_jax)
    table = rows(out)
    names = [r[1].strip() for r in table]
    assert names.count("numpy (hand)") == 3 and "floor: copy x" in names
    for s in systems:
        assert names.count(s) == 3, (s, out)
    assert "≠" not in out and "n/a" not in out, out
    assert all("x**" in r[2] for r in table if r[1].strip() != "numpy (hand)"), out


def test_memory_child_reports_peak_and_first_call():
    out = run("--quick", "--rss", "--threads", "1", "--workloads", "temp",
              "--systems", "numpy")
    (row,) = rows(out)
    peak, first = row[3].strip(), row[4].strip()
    assert peak.endswith(")") and "(+" in peak and float(peak.split()[0]) > 10, out
    assert first.endswith("s"), out
