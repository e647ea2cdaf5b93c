"""The op reference and the Backend contract, generated from the registry and base.py.

    graphgrad ops [--markdown] [OP ...]       print it (all ops, or the ones named)
    python -m graphgrad.backends.conformance.opref --write docs/ops.md

A backend author implements kernels from this alone: for each registered op, how its
kernel is called (operands, then attributes as keywords), what it computes, each
attribute's type and meaning, the result rule, whether it may return a view, and
the attribute values its conformance samples use; before the ops, the `Backend`
members (from their docstrings) and the contract's rules (`RULES`). Everything comes
from the op registry (`Op.document`) and backends/base.py, so ops added on other
branches appear once they are registered; tests/backends/test_conformance_opref.py
checks that docs/ops.md is up to date (regenerate it with the command above).
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys

import numpy as np

from graphgrad.backends import base
from graphgrad.backends.conformance.cases import dtypes_for, samples_of
from graphgrad.ops import REGISTRY

REGENERATE = "python -m graphgrad.backends.conformance.opref --write docs/ops.md"
UNDOCUMENTED = "(undocumented)"
MEMBERS = ("name", "availability", "from_numpy", "to_numpy", "kernels", "seed",
           "synchronize", "unsupported_ops", "unsupported_dtypes", "expected_failures",
           "compile_fused", "specialize", "column_major", "flat_state", "pack", "views",
           "all_reduce_start")


def operand_names(op) -> tuple[str, ...]:
    """The op's operand names: documented, else the shape rule's parameters that are
    not attributes."""
    if op.operands is not None:
        return op.operands
    if op.infer is None:
        return ()
    names = []
    for p in inspect.signature(op.infer).parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            names.append(f"*{p.name}")
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and \
                p.name not in attribute_names(op):
            names.append(p.name)
    return tuple(names)


def attribute_names(op) -> list[str]:
    """Documented attributes, then any other keyword the op's samples pass."""
    names = list(op.attr_docs)
    for sample in samples_of(op.name) if op.samples is not None and not op.random else ():
        names += [k for k in sample.kwargs if k not in names]
    return names


def signature(op) -> str:
    args = list(operand_names(op)) + [f"{a}=..." for a in attribute_names(op)]
    return f'kernels["{op.name}"]({", ".join(args)})'


def flags(op) -> list[str]:
    return [text for on, text in ((op.elementwise, "elementwise"),
                                  (op.differentiable and op.vjp is not None, "differentiable"),
                                  (op.random, "random"),
                                  (op.view, "may return a view of its first operand"),
                                  (not op.view, "new array"))
            if on]


def examples(op) -> list[str]:
    """Distinct attribute settings the op's conformance samples use."""
    if op.samples is None or op.random:
        return []
    seen = []
    for s in samples_of(op.name):
        text = ", ".join(f"{k}={_show(v)}" for k, v in s.kwargs.items())
        if text and text not in seen:
            seen.append(text)
    return seen[:6]


def _show(value) -> str:
    return f"dtype('{value}')" if isinstance(value, np.dtype) else repr(value)


def checked_dtypes(op) -> list[str]:
    if op.samples is None or op.random:
        return []
    found = {d for s in samples_of(op.name) for d in dtypes_for(op.name, s)}
    return sorted(found - {"native"}) + (["as sampled"] if "native" in found else [])


def op_section(op, markdown: bool) -> list[str]:
    code = (lambda t: f"`{t}`") if markdown else (lambda t: t)
    lines = [f"### {op.name}" if markdown else f"== {op.name}", "",
             f"{code(signature(op))}: {'; '.join(flags(op))}.", "",
             op.doc or UNDOCUMENTED, "",
             f"- result: {op.result or UNDOCUMENTED}"]
    attrs = attribute_names(op)
    if attrs:
        lines.append("- attributes (keywords):")
        lines += [f"  - {code(a)}: {op.attr_docs.get(a, UNDOCUMENTED)}" for a in attrs]
    if examples(op):
        lines.append(f"- sampled as: {'; '.join(code(e) for e in examples(op))}")
    if checked_dtypes(op):
        lines.append(f"- dtypes checked: {', '.join(checked_dtypes(op))}")
    return lines + [""]


def member_docs() -> list[tuple[str, str]]:
    """(member, first paragraph of its docstring or `#:` comment) from backends/base.py."""
    source = inspect.getsource(base.Backend)
    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in source.splitlines():
        text = line.strip()
        if text.startswith("#:"):
            pending.append(text[2:].strip())
            continue
        match = re.match(r"(?:self\.)?(\w+)\s*[:=]", text)
        if match and pending:
            comments.setdefault(match.group(1), " ".join(pending))
        pending = []
    out = []
    for name in MEMBERS:
        doc = comments.get(name) or inspect.getdoc(getattr(base.Backend, name, None)) or ""
        out.append((name, " ".join(doc.split())))
    return out


def contract_section(markdown: bool) -> list[str]:
    code = (lambda t: f"`{t}`") if markdown else (lambda t: t)
    head = (lambda t: f"## {t}") if markdown else (lambda t: t.upper())
    lines = [head("The Backend contract"), "",
             " ".join(inspect.getdoc(base).split("\n\n")[1].split()), "",
             " ".join(inspect.getdoc(base.Backend).split("\n\n")[1].split()), ""]
    lines += [f"- {code(name)}: {doc}" for name, doc in member_docs()]
    lines += ["", head("Rules (the conformance suite names the one a failure breaks)"), ""]
    lines += [f"- {code(name)}: {text}" for name, text in base.RULES.items()]
    return lines + [""]


def reference(markdown: bool = True, ops=None) -> str:
    """The whole reference (contract, op index, one section per op) as text."""
    names = sorted(REGISTRY) if not ops else list(ops)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise SystemExit(f"graphgrad ops: no op named {', '.join(unknown)}; known ops: "
                         f"{', '.join(sorted(REGISTRY))}")
    lines = []
    if not ops:
        lines += ["# graphgrad op reference" if markdown else "GRAPHGRAD OP REFERENCE", "",
                  f"Generated from the op registry by `graphgrad ops --markdown`; regenerate "
                  f"with `{REGENERATE}`.", ""]
        lines += contract_section(markdown)
        lines += ["## Ops" if markdown else "OPS", ""]
        if markdown:
            lines += ["| op | kernel call | kind |", "|---|---|---|"]
            lines += [f"| [{n}](#{n}) | `{signature(REGISTRY[n])}` | "
                      f"{', '.join(flags(REGISTRY[n]))} |" for n in names]
            lines.append("")
    for name in names:
        lines += op_section(REGISTRY[name], markdown)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """`graphgrad ops`: print the op reference, or write it to a file."""
    parser = argparse.ArgumentParser(prog="graphgrad ops", description=__doc__.split("\n\n")[0])
    parser.add_argument("ops", nargs="*", help="only these ops")
    parser.add_argument("--markdown", action="store_true", help="Markdown (docs/ops.md)")
    parser.add_argument("--write", metavar="PATH", help="write the Markdown reference here")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    text = reference(markdown=args.markdown or bool(args.write), ops=args.ops)
    if args.write:
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.write} ({len(REGISTRY)} ops)")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
