"""The op reference (`graphgrad ops`, docs/ops.md) is complete and up to date.

Oracle: the op registry itself. docs/ops.md must be exactly what the generator makes
of the registry now (after adding an op: `python -m graphgrad.backends.conformance.opref
--write docs/ops.md`); every op must say what its kernel computes and its result rule,
and document every attribute its samples pass; every `Backend` member must have a
docstring or `#:` comment; README must link the reference.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from graphgrad.backends.conformance import opref
from graphgrad.ops import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def test_docs_ops_md_is_up_to_date():
    current = (ROOT / "docs" / "ops.md").read_text(encoding="utf-8")
    assert current == opref.reference(markdown=True), \
        f"docs/ops.md is out of date with the op registry: run `{opref.REGENERATE}`"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_op_is_documented(name):
    op = REGISTRY[name]
    assert op.doc, f"op {name!r} has no description: call {name}_op.document(...) beside it"
    assert op.result, f"op {name!r} has no result rule in words (document(result=...))"
    missing = [a for a in opref.attribute_names(op) if a not in op.attr_docs]
    assert not missing, f"op {name!r}: attributes {missing} are undocumented"
    assert opref.UNDOCUMENTED not in "\n".join(opref.op_section(op, markdown=True))


def test_every_backend_member_is_documented():
    empty = [name for name, doc in opref.member_docs() if not doc]
    assert not empty, f"Backend members without a docstring or #: comment: {empty}"


def test_cli_prints_the_reference():
    run = [sys.executable, "-m", "graphgrad.cli", "ops"]
    plain = subprocess.run(run + ["gather"], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    assert 'kernels["gather"](x, idx, axis=...)' in plain.stdout
    assert "take_along_axis" in plain.stdout
    markdown = subprocess.run(run + ["--markdown"], capture_output=True, text=True,
                              timeout=120)
    assert markdown.stdout == opref.reference(markdown=True)
    wrong = subprocess.run(run + ["no_such_op"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode != 0 and "no op named no_such_op" in wrong.stderr


def test_readme_links_the_reference():
    assert "docs/ops.md" in (ROOT / "README.md").read_text(encoding="utf-8")
