"""The example third-party backend (examples/checking_backend), installed like a user would.

A fresh virtual environment gets the example with `pip install --no-deps
--no-build-isolation --no-index -e`; then its entry point must make `checking` appear in
`gg.backends.available()` there (and only there), and `graphgrad conformance checking`
must pass. Oracle: the suite.

The new environment must not depend on the base interpreter (which may hold nothing
beyond what `python -m venv` gives: no `wheel`, no graphgrad): it sees *this* test
environment's packages (graphgrad, pip, setuptools) through a `.pth` file that adds our
site directories, so nothing is downloaded and nothing of the base Python is needed.
"""

import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "checking_backend"
AVAILABLE = "import graphgrad as gg; print(gg.backends.available())"


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=300, **kwargs)


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory):
    root = tmp_path_factory.mktemp("checking")
    source = root / "checking_backend"  # a copy, so the build leaves nothing in the repo
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    made = run(sys.executable, "-m", "venv", "--without-pip", root / "venv")
    assert made.returncode == 0, made.stderr
    python = root / "venv" / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    # Our site directories, processed as site dirs (so graphgrad's editable-install hook
    # in them runs too); pip, run from there, installs into the venv it runs in.
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], *site.getsitepackages()])
    lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in ours)
    (Path(purelib.stdout.strip()) / "graphgrad_test_env.pth").write_text(lines)
    installed = run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "-e", source)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


def test_entry_point_makes_it_available_in_the_venv_only(venv_python):
    inside = run(venv_python, "-c", AVAILABLE)
    assert inside.returncode == 0, inside.stderr
    assert "'checking'" in inside.stdout and "'numpy'" in inside.stdout
    outside = run(sys.executable, "-c", AVAILABLE)
    assert "'checking'" not in outside.stdout


def test_conformance_passes(venv_python):
    proc = run(venv_python, "-m", "graphgrad.cli", "conformance", "checking")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert "graphgrad conformance report: backend 'checking'" in proc.stdout
    assert "conformant" in proc.stdout


def test_it_checks_what_it_runs(venv_python):
    code = ("import graphgrad as gg\n"
            "x = gg.tensor([1.0, -1.0], device='checking')\n"
            "try:\n    x.log()\nexcept gg.NumericalError as e:\n    print('caught', e)\n")
    proc = run(venv_python, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert "caught" in proc.stdout and "'log' produced NaN from finite operands" in proc.stdout
