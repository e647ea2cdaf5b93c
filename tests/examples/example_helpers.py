"""Shared by the example tests: import the scripts in-process and read their diagrams.

The examples import each other (`_common`, `linear_erm`) by module name, as they do
when run as `python examples/NAME.py`, so their folder goes on `sys.path`.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
if str(EXAMPLES_DIR) not in sys.path:
    sys.path.insert(0, str(EXAMPLES_DIR))

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's `dot` program is not installed")


def example(name: str):
    """The example module `examples/NAME.py`."""
    return importlib.import_module(name)


def svg_texts(path: Path) -> list[str]:
    """Parse `path` as SVG (it must be well-formed XML with an <svg> root); its text."""
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg"), f"{path} is not an SVG document (root {root.tag})"
    return [t.strip() for t in root.itertext() if t.strip()]


def check_diagrams(out: Path, name: str, forward_has: str, backward_has: str) -> None:
    """NAME_forward.svg and NAME_backward.svg parse and show what each part should."""
    forward = svg_texts(out / f"{name}_forward.svg")
    backward = svg_texts(out / f"{name}_backward.svg")
    # a label may carry its inlined constants: `nll_loss_backward(1, ·)`
    assert any(t == forward_has or t.startswith(forward_has + "(") for t in forward), \
        f"{forward_has!r} not drawn in the forward diagram"
    assert any(t == backward_has or t.startswith(backward_has + "(") for t in backward), \
        f"{backward_has!r} not drawn in the backward diagram"
    assert "backward" not in forward  # the forward part leaves the backward cluster out
