"""Imports point down between the layers that README's architecture section draws.

Oracle: the import statements themselves (module level and inside functions), read with
`ast` from the source files. Each rule names a lower layer and what it must never import
from above; a new arrow pointing up fails here with the file and line.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: (files of a layer, package prefixes they must not import, why)
RULES = [
    (["engine/dtypes.py", "engine/errors.py", "engine/source.py", "engine/pytree.py"],
     ["graphgrad.tensor", "graphgrad.ops", "graphgrad.ir", "graphgrad.autodiff",
      "graphgrad.creation", "graphgrad.compile", "graphgrad.runtime", "graphgrad.passes",
      "graphgrad.nn", "graphgrad.optim", "graphgrad.backends"],
     "the bottom layer (dtypes, errors, source, pytree) imports only NumPy and each other"),
    (["backends/base.py", "backends/registry.py", "backends/numpy_backend.py",
      "backends/numpy_fusion.py", "backends/cupy_backend.py", "backends/cuda_codegen.py",
      "backends/nn_kernels.py", "backends/seq_kernels.py", "backends/cupy_indexing.py",
      "backends/cupy_collectives.py", "backends/numba_backend.py", "backends/numba_plan.py",
      "backends/numba_plan_ops.py", "backends/numba_plan_kernels.py"],
     ["graphgrad.nn", "graphgrad.optim", "graphgrad.compile", "graphgrad.runtime",
      "graphgrad.passes", "graphgrad.data", "graphgrad.utils", "graphgrad.distributed",
      "graphgrad.viz"],
     "backends know the IR and the op registry, never the modelling layer or the compiler"),
    (["engine/ir/graph.py", "engine/ir/printer.py", "engine/ir/verify.py",
      "engine/ir/fused.py"],
     ["graphgrad.tensor", "graphgrad.nn", "graphgrad.optim", "graphgrad.compile",
      "graphgrad.runtime", "graphgrad.passes", "graphgrad.autodiff"],
     "the IR is plain data over networkx: it knows no Tensor"),
    (["engine/passes/*.py"],
     ["graphgrad.nn", "graphgrad.optim", "graphgrad.compile", "graphgrad.data",
      "graphgrad.backends.numpy_backend", "graphgrad.backends.cupy_backend"],
     "a pass rewrites a Graph and never knows a concrete backend or the modelling layer"),
    (["engine/*.py", "engine/*/*.py"],
     ["graphgrad.backends.numpy_backend", "graphgrad.backends.cupy_backend",
      "graphgrad.backends.numba_backend"],
     "the engine knows the Backend contract and the registry, never a concrete backend"),
    (["viz/*.py"],
     ["graphgrad.nn", "graphgrad.optim", "graphgrad.runtime", "graphgrad.backends.numpy_backend"],
     "viz reads graphs; nothing runs in it"),
]
#: Files exempt from a rule, with the reason (benchmark helpers time concrete backends).
EXEMPT = {"engine/bench.py": "times the NumPy backend by name, as a benchmark does"}


def _package_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    top = {"engine": "graphgrad", "backends": "graphgrad.backends", "viz": "graphgrad.viz"}
    parts[0] = top[parts[0]]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path):
    """(line, absolute module name) for every import in the file."""
    module = _package_of(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            yield node.lineno, name
            yield from ((node.lineno, f"{name}.{a.name}") for a in node.names)


def files(patterns):
    for pattern in patterns:
        yield from sorted(ROOT.glob(pattern))


@pytest.mark.parametrize("patterns,forbidden,why", RULES, ids=[r[2][:40] for r in RULES])
def test_imports_point_down(patterns, forbidden, why):
    bad = []
    for path in files(patterns):
        rel = str(path.relative_to(ROOT))
        if rel in EXEMPT:
            continue
        for line, name in imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{rel}:{line} imports {name}")
    assert not bad, f"{why}:\n" + "\n".join(bad)


def test_the_rules_look_at_real_files():
    for patterns, _, why in RULES:
        assert list(files(patterns)) or "numba" in str(patterns), why
