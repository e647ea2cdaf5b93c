"""`graphgrad conformance NAME [pytest options]`: run the conformance suite on a backend.

NAME is an installed backend (entry point group `graphgrad.backends`) or `module:Class`
for one not installed yet (imported from the current directory too). `--ops exp,sum*`
checks only those ops (op names or fnmatch patterns; cases of other ops are not even
generated). Extra options go to pytest (`-k erf`, `-x`, `-v`). The run ends with the
per-op report; the exit status is pytest's (0 = conformant).
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import entry_points

PLUGIN = "graphgrad.backends.conformance.plugin"
OPS_ENV = "GRAPHGRAD_CONFORMANCE_OPS"  # read by cases.py (not imported here: no numpy yet)


def _plugin_autoloaded() -> bool:
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))


def _check_backend(spec: str) -> str | None:
    """None when the backend can run here, else the reason (with what is available)."""
    from graphgrad.backends import get_backend
    from graphgrad.errors import BackendError

    if ":" in spec:
        return None  # the plugin imports and registers it
    try:
        get_backend(spec)
    except BackendError as exc:
        return str(exc)
    return None


def pytest_args(spec: str, extra: list[str]) -> list[str]:
    """The pytest command line that runs the suite on backend `spec`."""
    args = ["--pyargs", "graphgrad.backends.conformance", "--backend", spec,
            "-p", "no:cacheprovider", "-q", "--no-header"]
    if not _plugin_autoloaded():
        args = ["-p", PLUGIN] + args
    return args + list(extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="graphgrad conformance",
        description="Run graphgrad's backend conformance suite (a pytest run) on a backend.",
        epilog="Other options are passed to pytest, e.g. -k erf, -x, -v.")
    parser.add_argument("backend", help="an installed backend's name, or module:Class")
    parser.add_argument("--ops", help="check only these ops: comma-separated names or "
                                      "fnmatch patterns (e.g. exp,sum,log*)")
    args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    problem = _check_backend(args.backend)
    if problem:
        print(f"graphgrad conformance: {problem}", file=sys.stderr)
        return 2
    try:
        import pytest
    except ImportError:
        print("graphgrad conformance: the suite runs on pytest, which is not installed "
              "(pip install pytest, or graphgrad[dev])", file=sys.stderr)
        return 2
    before = os.environ.get(OPS_ENV)
    if args.ops:
        os.environ[OPS_ENV] = args.ops
    try:
        return int(pytest.main(pytest_args(args.backend, extra)))
    finally:  # called in-process (a test, a notebook): later runs check every op again
        if before is None:
            os.environ.pop(OPS_ENV, None)
        else:
            os.environ[OPS_ENV] = before


if __name__ == "__main__":
    sys.exit(main())
