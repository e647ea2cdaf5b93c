"""The conformance suite passes on the built-in backends (cupy where a GPU is present).

Oracle: the suite itself (NumPy float64 references, finite differences, unfused
kernels); this runs it the way a backend author does, `graphgrad conformance NAME`,
and reads the exit status and the per-op report.
"""

import os
import subprocess
import sys

import pytest

from graphgrad.backends import info
from graphgrad.ops import REGISTRY


def run_conformance(*args, cwd=None, env_path=None):
    env = dict(os.environ)
    if env_path:
        env["PYTHONPATH"] = os.pathsep.join([env_path, env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "graphgrad.cli", "conformance", *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_numpy_backend_conforms():
    proc = run_conformance("numpy")
    report = proc.stdout[proc.stdout.index("graphgrad conformance report"):]
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert "conformant" in report
    for op in REGISTRY:
        assert f"\n{op} " in report, f"op {op!r} missing from the report"
    assert "FAIL" not in report and "unsupported" not in report


def test_cupy_backend_conforms():
    cupy = {b.name: b for b in info()}.get("cupy")
    if cupy is None or not cupy.usable:
        pytest.skip(f"cupy backend unavailable here: {cupy.reason if cupy else 'not installed'}")
    proc = run_conformance("cupy")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


def test_unknown_backend_is_a_clear_error():
    proc = run_conformance("no_such_backend")
    assert proc.returncode == 2
    assert "unknown backend 'no_such_backend'" in proc.stderr and "numpy" in proc.stderr


def test_missing_pytest_is_a_clear_error(monkeypatch, capsys):
    """`graphgrad conformance` where pytest is not installed (an install without the dev
    extra): a one-line reason and exit status 2, not an ImportError traceback."""
    from graphgrad.backends.conformance import cli

    monkeypatch.setitem(sys.modules, "pytest", None)  # makes `import pytest` fail
    assert cli.main(["numpy"]) == 2
    assert "pytest, which is not installed" in capsys.readouterr().err


def test_an_in_process_run_restricted_to_some_ops_leaves_the_environment_as_it_was(
        capsys, monkeypatch):
    """`--ops` reaches the suite through an environment variable: an in-process run (a
    test, a notebook) must not leave it set, or every later run checks only those ops."""
    from graphgrad.backends.conformance.cases import OPS_ENV
    from graphgrad.backends.conformance.cli import main

    monkeypatch.delenv(OPS_ENV, raising=False)
    assert main(["numpy", "--ops", "add", "-x", "-k", "test_forward"]) == 0
    assert "conformant" in capsys.readouterr().out
    assert OPS_ENV not in os.environ
