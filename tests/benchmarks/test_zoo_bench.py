"""benchmarks/zoo.py: its workloads build, its systems train the same model, its table
has the rows the README quotes.

Oracles: the CNN workload's three systems start from one set of torch weights and see
the same batches, so their first losses agree to float32 tolerance; the table has a
row per system, both ratios against torch, and the first-call line.
"""

import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "zoo.py"
sys.path.insert(0, str(SCRIPT.parent))

import zoo  # noqa: E402  (the script, imported as a module)


def test_cnn_workload_systems_agree_and_the_table_reads():
    workload = next(w for w in zoo.WORKLOADS if w.name == "cnn")
    systems, first = workload.build()
    losses = {name: step() for name, step in systems.items()}
    np.testing.assert_allclose(losses["graphgrad eager"], losses[zoo.TORCH], rtol=1e-5)
    assert 0 < first
    times = {name: (0.01, 0.004) for name in systems}  # (wall, CPU) seconds per step
    table = zoo.format_rows(workload, times, first, "1")
    for row in ("graphgrad compiled", "graphgrad eager", "torch eager", "first call"):
        assert row in table
    assert table.count("1.00x") == 2 * len(systems)  # equal times: every ratio is 1
