"""Deliberately broken backends fail the conformance suite, and the report names the op.

Oracle: the known defects of the copies in broken_backends.py (a float64 result from
float32 exp; a scatter that drops repeated-index gradients), and the backend's own
declarations, which must be reported as unsupported / expected failures, never passed.
"""

import os
import re

from test_conformance_numpy import run_conformance

HERE = os.path.dirname(os.path.abspath(__file__))


def report_line(stdout: str, op: str) -> str:
    report = stdout[stdout.index("graphgrad conformance report"):]
    return re.search(rf"^{op} .*$", report, re.M).group(0)


def test_wrong_dtype_fails_and_names_the_op():
    proc = run_conformance("broken_backends:WrongDtype", "-k", "exp or sin", env_path=HERE)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "FAIL (forward)" in report_line(proc.stdout, "exp")
    assert report_line(proc.stdout, "sin").split()[1] == "pass"
    assert "op 'exp'" in proc.stdout and "result dtype float64, the op's rule says float32" \
        in proc.stdout
    assert "FAILED for exp" in proc.stdout


def test_wrong_vjp_fails_and_names_the_op():
    proc = run_conformance("broken_backends:WrongVJP", "-k", "index", env_path=HERE)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "FAIL (vjp)" in report_line(proc.stdout, "index")
    assert re.search(r"FAIL \(.*forward", report_line(proc.stdout, "index_backward"))
    assert "the VJP of op `index` is wrong" in proc.stdout
    assert "repeated indices" in proc.stdout  # the failing sample is named


def test_declarations_are_reported_as_unsupported_and_expected_failures():
    proc = run_conformance("broken_backends:Declaring", "-k", "exp or erf or contract",
                           env_path=HERE)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert report_line(proc.stdout, "erf").split()[1] == "unsupported"
    exp = report_line(proc.stdout, "exp")
    assert exp.split()[1:3] == ["expected", "failure"] and "passed" not in exp
    assert "declares op 'erf' in unsupported_ops" in proc.stdout
    assert "computes in float64 (known)" in proc.stdout
    assert "declares dtype float64 in unsupported_dtypes" in proc.stdout
