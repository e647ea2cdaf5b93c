"""Run the conformance suite on many backends in one process (for the mutation test).

    python mutant_runs.py '[["broken_backends:ReluInPlace", "relu", "forward"], ...]'

Each entry is (backend spec, ops to generate cases for, pytest -k expression). A
fresh interpreter per backend spends most of its time starting up and collecting;
here the suite's test modules are dropped from `sys.modules` between runs so each
run collects only its ops' cases. Prints one JSON object: spec -> [exit status,
output].
"""

import contextlib
import io
import json
import os
import sys

import pytest

from graphgrad.backends.conformance.cases import OPS_ENV
from graphgrad.backends.conformance.cli import pytest_args

MARK = "conformance.test_"  # the suite's modules, whatever name pytest imported them by


def run_one(spec: str, ops: str, selection: str) -> tuple[int, str]:
    for name in [m for m in sys.modules if MARK in m]:
        del sys.modules[name]  # their parametrizations read $GRAPHGRAD_CONFORMANCE_OPS
    os.environ[OPS_ENV] = ops
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = pytest.main(pytest_args(spec, ["-k", selection, "-x", "--capture=sys",
                                                "-W", "ignore::pytest.PytestAssertRewriteWarning"]))
    return int(status), out.getvalue()


def main(argv: list[str]) -> int:
    results = {spec: run_one(spec, ops, selection) for spec, ops, selection in json.loads(argv[0])}
    sys.__stdout__.write(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main(sys.argv[1:]))
