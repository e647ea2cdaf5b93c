"""Deliberately broken backends fail the conformance suite, and the report leads to the cause.

Oracle: the known defects of the copies in broken_backends.py (a float64 result from
float32 exp; a scatter that drops repeated-index gradients; every kernel returning
Python numbers for 0-d results; a relu writing into its input), and the backend's own
declarations, which must be reported as unsupported / expected failures, never passed.
The report must come last, group one mistake's failures into one counted cause, and
blame a wrong backward kernel rather than the op whose VJP uses it.
"""

import os
import re
import subprocess
import sys

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
    assert "FAIL (vjp: kernel index_backward is wrong)" in report_line(proc.stdout, "index")
    assert re.search(r"FAIL \(.*forward", report_line(proc.stdout, "index_backward"))
    assert "the gradient is wrong because kernel 'index_backward' is" in proc.stdout
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


def test_one_contract_mistake_is_one_cause_with_a_count():
    proc = run_conformance("broken_backends:ZeroDAsPythonNumbers", "--ops", "*", "-k",
                           "forward and s1-", env_path=HERE)
    assert proc.returncode == 1
    report = proc.stdout[proc.stdout.index("graphgrad conformance report"):]
    causes = [line for line in report.splitlines() if " x in " in line]
    assert len(causes) == 1, report
    count = int(causes[0].split()[0])
    assert count >= 10 and "kernel returned a Python number" in causes[0]
    assert "[contract rule 'array-type'" in causes[0]
    assert "op 'exp' on (float32[])" in proc.stdout  # each message names op and operands
    assert "FAILED for" in report.rstrip().splitlines()[-1]


def test_a_wrong_backward_kernel_is_blamed_not_the_forward_op():
    proc = run_conformance("broken_backends:GatherBackwardAssigns", "--ops", "gather*",
                           env_path=HERE)
    assert proc.returncode == 1
    assert "FAIL (vjp: kernel gather_backward is wrong)" in report_line(proc.stdout, "gather")
    assert "breaks the vjp of gather" in report_line(proc.stdout, "gather_backward")
    assert "the gradient is wrong because kernel 'gather_backward' is" in proc.stdout


def test_the_report_is_the_last_thing_printed():
    proc = run_conformance("broken_backends:ReluInPlace", "--ops", "relu", "-k", "forward",
                           env_path=HERE)
    tail = proc.stdout.rstrip().splitlines()
    assert tail[-1].endswith("FAILED for relu")
    after = proc.stdout[proc.stdout.index("graphgrad conformance report"):]
    assert "short test summary" not in after and " failed" not in after.splitlines()[0]
    assert "kernel modified its input 0 [contract rule 'no-input-writes'" in proc.stdout


def _console_script(*args):
    """`graphgrad ...` as the console script runs it: without the current directory on
    sys.path (`python -P`), unlike `python -m`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-P", "-m", "graphgrad.cli", *args], cwd=HERE,
                          env=env, capture_output=True, text=True, timeout=300)


def test_module_spec_loads_from_the_current_directory_without_pythonpath():
    proc = _console_script("conformance", "broken_backends:WrongDtype", "--ops", "exp", "-k",
                           "forward")
    assert proc.returncode == 1 and "INTERNALERROR" not in proc.stdout + proc.stderr, \
        proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "FAILED for exp" in proc.stdout
    missing = _console_script("conformance", "no_such_module:Backend")
    assert missing.returncode != 0 and "cannot load backend class" in missing.stdout + \
        missing.stderr


def test_cupy_kernel_table_takes_python_numbers():
    """The CuPy kernels' logic (NumPy as the array module) under the Python-number rule:
    its cast once called `x.astype`, which a compiled step's learning rate crashed."""
    proc = run_conformance("broken_backends:CupyKernelTable", "-k", "python", env_path=HERE)
    assert proc.returncode == 0, proc.stdout[-3000:]
