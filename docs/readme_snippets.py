"""README's commands and their outputs, produced by running them (doctest-style).

A fenced block preceded by a marker comment is run, and the untagged fenced block right
after it is its output:

    <!-- run: fit.py -->             the python block is saved as fit.py and run
    <!-- run: fit.py continued -->   appended to fit.py; its output is what the addition
                                     prints (the whole file is run, the earlier output cut)
    <!-- run: shell -->              each `$ command` line of the block is run with bash;
                                     the block shows the commands with their output

Everything runs from a scratch copy of the repository root, so relative paths in the
snippets work and nothing is written into the checkout. Timings in outputs (`28 ms`,
`0.2 s`) are compared as "some number"; everything else must match exactly.

    python docs/readme_snippets.py --check    # exit 1 and a diff when README is stale
    python docs/readme_snippets.py --write    # rewrite README's output blocks
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- run: (?P<target>\S+)(?P<cont> continued)? -->$")
TIMING = re.compile(r"\d[\d,.]*\s?(ms|µs|us|s)\b")


@dataclass
class Snippet:
    target: str          # file name, or "shell"
    continued: bool
    code: str
    code_span: tuple[int, int]    # line range of the code block's body
    output_span: tuple[int, int] | None  # line range of the output block's body (shell: None)


def _fence_end(lines: list[str], start: int) -> int:
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("```"):
            return i
    raise ValueError(f"README line {start + 1}: unclosed code block")


def parse(text: str) -> list[Snippet]:
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if not m:
            i += 1
            continue
        start = i + 1
        end = _fence_end(lines, start)
        code = "\n".join(lines[start + 1:end]) + "\n"
        output_span = None
        if m["target"] != "shell":
            j = end + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j >= len(lines) or lines[j] != "```":
                raise ValueError(f"README line {j + 1}: a run block needs an untagged "
                                 "output block right after it")
            output_span = (j + 1, _fence_end(lines, j))
        out.append(Snippet(m["target"], bool(m["cont"]), code, (start + 1, end), output_span))
        i = end + 1
    return out


def _run(args, cwd: Path, shell: bool = False) -> str:
    # this interpreter's scripts (`graphgrad`) first on PATH, as in an activated venv
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = dict(os.environ, PYTHONHASHSEED="0", COLUMNS="100", PATH=path)
    proc = subprocess.run(args, cwd=cwd, shell=shell, capture_output=True, text=True,
                          env=env, timeout=600, executable="/bin/bash" if shell else None)
    return proc.stdout + proc.stderr


def run_all(snippets: list[Snippet], workdir: Path) -> list[str]:
    """Each snippet's output (shell blocks: the block rewritten with outputs)."""
    outputs, files = [], {}
    for s in snippets:
        if s.target == "shell":
            outputs.append(_run_shell(s.code, workdir))
            continue
        before = files.get(s.target, "") if s.continued else ""
        files[s.target] = before + s.code
        (workdir / s.target).write_text(files[s.target])
        full = _run([sys.executable, s.target], workdir)
        if s.continued:
            (workdir / s.target).write_text(before)
            earlier = _run([sys.executable, s.target], workdir)
            (workdir / s.target).write_text(files[s.target])
            # the earlier part prints the same lines again (up to timings): cut them
            full = "".join(full.splitlines(True)[len(earlier.splitlines()):])
        outputs.append(full.rstrip("\n"))
    return outputs


def _run_shell(block: str, workdir: Path) -> str:
    shown = []
    for line in block.rstrip("\n").split("\n"):
        if not line.startswith("$ "):
            continue
        shown.append(line)
        out = _run(line[2:], workdir, shell=True).rstrip("\n")
        shown += [out] if out else []
    return "\n".join(shown)


def _normalized(text: str) -> str:
    return TIMING.sub("<time>", text)


def render(text: str, snippets: list[Snippet], outputs: list[str]) -> str:
    lines = text.split("\n")
    for s, out in sorted(zip(snippets, outputs), key=lambda p: -p[0].code_span[0]):
        lo, hi = s.output_span or s.code_span
        lines[lo:hi] = out.split("\n")
    return "\n".join(lines)


def scratch_copy() -> Path:
    """The repository (without .git, venvs and outputs) in a temporary folder."""
    dest = Path(tempfile.mkdtemp(prefix="graphgrad-readme-"))
    ignore = shutil.ignore_patterns(".git", ".venv", "out", "__pycache__", "*.egg-info",
                                    ".hypothesis", "build")
    shutil.copytree(ROOT, dest / "repo", ignore=ignore)
    return dest / "repo"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    text = README.read_text()
    snippets = parse(text)
    workdir = scratch_copy()
    try:
        new = render(text, snippets, run_all(snippets, workdir))
    finally:
        shutil.rmtree(workdir.parent, ignore_errors=True)
    if args.write:
        README.write_text(new)
        return 0
    if _normalized(new) == _normalized(text):
        return 0
    sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                               "README.md", "README.md (as run)"))
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
