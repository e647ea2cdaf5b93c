"""The documented contract is enough to write a backend, and each rule is enforced.

Oracle: docs/ops.md and backends/base.py. contract_backend.ContractBackend was written
from them alone (no NumpyBackend): the whole suite must pass on it. Each of its
`VIOLATIONS` breaks one documented rule (base.RULES); the suite must fail on each
with a message citing that rule by name.
"""

import json
import os
import subprocess
import sys

import pytest
from contract_backend import VIOLATIONS
from test_conformance_numpy import run_conformance

from graphgrad.backends.base import RULES

HERE = os.path.dirname(os.path.abspath(__file__))


def test_a_backend_written_from_the_documentation_conforms():
    proc = run_conformance("contract_backend:ContractBackend", cwd=HERE)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert proc.stdout.rstrip().endswith("conformant")


def test_every_rule_has_a_violation():
    assert set(VIOLATIONS) == set(RULES)


@pytest.fixture(scope="module")
def runs():
    plan = [[f"contract_backend:{cls.__name__}", ops, k] for cls, ops, k in VIOLATIONS.values()]
    proc = subprocess.run([sys.executable, os.path.join(HERE, "mutant_runs.py"),
                           json.dumps(plan)], capture_output=True, text=True, cwd=HERE,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_breaking_a_rule_fails_naming_it(runs, rule):
    status, output = runs[f"contract_backend:{VIOLATIONS[rule][0].__name__}"]
    assert status == 1, f"breaking {rule!r} passed the suite:\n{output[-3000:]}"
    assert f"[contract rule '{rule}'" in output, output[-5000:]
