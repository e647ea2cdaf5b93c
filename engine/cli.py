"""The `graphgrad` command: one subcommand per job, each implemented beside its subject.

    graphgrad backends                     what is installed and usable, and why not
    graphgrad render SCRIPT.py:NAME ...    draw a function's or model's graphs
    graphgrad conformance NAME             run the backend conformance suite
    graphgrad ops [--markdown] [OP ...]    the op reference and Backend contract (docs/ops.md)
    graphgrad bench                        print the benchmark table
"""

from __future__ import annotations

import argparse
import importlib
import sys

from graphgrad.backends import info

# subcommand -> (module, function); each function takes the remaining argv (the module
# docstring above is the help text)
SUBCOMMANDS = {
    "backends": ("graphgrad.cli", "backends_main"),
    "render": ("graphgrad.viz.cli", "main"),
    "conformance": ("graphgrad.backends.conformance.cli", "main"),
    "ops": ("graphgrad.backends.conformance.opref", "main"),
    "bench": ("graphgrad.bench", "main"),
}


def backends_main(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="graphgrad backends").parse_args(argv)
    for b in info():
        print(b)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        print(__doc__.strip())
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nunknown subcommand {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    module, func = SUBCOMMANDS[argv[0]]
    return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
