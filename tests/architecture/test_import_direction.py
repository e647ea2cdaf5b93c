"""Imports point down between the layers that README's architecture section draws.

Oracle: the import statements themselves (module level and inside functions), read with
`ast` from the source files. `LAYERS` lists the engine's layers bottom-up: a file may
import (at module level) only from its own layer or those below, and importing
`graphgrad.a.b` counts as importing the package `graphgrad.a` too (its `__init__` runs).
An import inside a function dodges that order, so each one must say why in a
`# layer:` comment and their number may only go down. The `RULES` below add what
backends and viz may import. A new arrow pointing up fails here with the file and line.
"""

import ast
from pathlib import Path

import networkx as nx
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


# ---------------------------------------------------------------------- the engine's layers

#: The engine's layers, bottom-up: (name, files, what lives there). README's
#: architecture section draws the same list.
LAYERS = [
    ("foundation",
     ["engine/errors.py", "engine/source.py", "engine/dtypes.py", "engine/pytree.py",
      "engine/grad_mode.py", "engine/arrays.py", "engine/device.py", "engine/cuda.py",
      "engine/npz_reader.py", "engine/printing.py"],
     "errors, user source lines, dtypes, pytrees, grad modes, data to arrays, devices, "
     "printing"),
    ("ir", ["engine/ir/*.py"],
     "the Graph over networkx, its printer and verifier, the trace state and Tracer"),
    ("tensor",
     ["engine/tensor.py", "engine/nodes.py", "engine/strides.py", "engine/forward_ad.py",
      "engine/anomaly.py", "engine/generator.py", "engine/predicates.py"],
     "Tensor (value or symbol) and the per-op state it consults: tangents, anomaly, RNG"),
    ("ops",
     ["engine/ops/*.py", "engine/creation.py", "engine/views.py", "engine/inplace.py",
      "engine/linalg.py"],
     "the op registry and apply (eager or traced), the op groups, creation, views"),
    ("autodiff",
     ["engine/autodiff.py", "engine/autograd.py", "engine/func.py", "engine/gradcheck.py"],
     "reverse mode, function transforms, gradcheck"),
    ("compile",
     ["engine/trace.py", "engine/naming.py", "engine/arguments.py", "engine/side_effects.py",
      "engine/guards.py", "engine/guard_values.py",
      "engine/guard_bindings.py", "engine/plan_cache.py", "engine/passes/*.py", "engine/runtime.py",
      "engine/native_plan.py", "engine/checked_plan.py", "engine/fast_call.py",
      "engine/compile.py"],
     "tracing a step, guards, the passes, the lowered plan, gg.compile"),
    ("model",
     ["engine/nn/*.py", "engine/optim/*.py", "engine/optim/*/*.py", "engine/data.py",
      "engine/utils/*.py", "engine/utils/*/*.py", "engine/distributed/*.py",
      "engine/serialization.py"],
     "nn, optim, data loading, data-parallel training, save/load"),
    ("face", ["engine/__init__.py", "engine/cli.py", "engine/bench.py", "engine/bench_steps.py"],
     "the public face (re-exports), the command line, benchmarks"),
]
#: Outside the engine: the Backend contract and registry sit with the foundation (every
#: layer may use them); viz sits above the face (the engine loads it only on demand).
OUTSIDE = {"graphgrad.backends": 0, "graphgrad.backends.base": 0,
           "graphgrad.backends.registry": 0, "graphgrad.viz": len(LAYERS)}
#: Imports inside functions in the engine, each with a `# layer:` reason; lower it as
#: they go, never raise it. (Before the layers were drawn there were 75.)
MAX_FUNCTION_LEVEL_IMPORTS = 2
REASON = "# layer:"


def _layer_of_files() -> dict[str, int]:
    layer = {}
    for i, (_, patterns, _) in enumerate(LAYERS):
        for path in files(patterns):
            layer[_package_of(path)] = i
    return layer


def _statements(path: Path):
    """(import node, inside a function, under `if TYPE_CHECKING`) for each import."""
    found = []

    def visit(node, in_function, type_checking):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append((child, in_function, type_checking))
            visit(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)),
                type_checking or (isinstance(child, ast.If)
                                  and "TYPE_CHECKING" in ast.unparse(child.test)))

    visit(ast.parse(path.read_text()), False, False)
    return found


def _targets(path: Path, node) -> list[str]:
    """The graphgrad modules an import names (a name may be a module or a member)."""
    module = _package_of(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module
                                                                    else []))
        names = [f"{base}.{a.name}" for a in node.names]
    return [n for n in names if n == "graphgrad" or n.startswith("graphgrad.")]


def _layers_reached(name: str, layer: dict[str, int]) -> list[tuple[str, int]]:
    """(module, layer) for the module `name` imports and every package above it that
    the import runs (`graphgrad` itself, the face, only when named alone)."""
    parts = name.split(".")
    found = []
    for end in range(len(parts), 1, -1):
        prefix = ".".join(parts[:end])
        if prefix in layer:
            found.append((prefix, layer[prefix]))
            for i in range(2, end):  # parent packages run first
                parent = ".".join(parts[:i])
                if parent in layer:
                    found.append((parent, layer[parent]))
            return found
        if prefix in OUTSIDE:
            return [(prefix, OUTSIDE[prefix])]
    return [("graphgrad", layer["graphgrad"])] if name == "graphgrad" else []


def _engine_imports():
    layer = _layer_of_files()
    for path in sorted((ROOT / "engine").rglob("*.py")):
        for node, in_function, type_checking in _statements(path):
            for name in _targets(path, node):
                yield path, layer, node, in_function, type_checking, name


def test_every_engine_file_has_a_layer():
    layer = _layer_of_files()
    missing = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "engine").rglob("*.py"))
               if _package_of(p) not in layer]
    assert not missing, "add these files to a layer in LAYERS (and README):\n" + \
        "\n".join(missing)
    placed = [p for _, patterns, _ in LAYERS for p in files(patterns)]
    assert len(placed) == len(set(placed)), "a file is in two layers"


def test_module_level_imports_point_down():
    bad = []
    for path, layer, node, in_function, type_checking, name in _engine_imports():
        if in_function or type_checking:
            continue
        mine = layer.get(_package_of(path))
        if mine is None:
            continue  # test_every_engine_file_has_a_layer names it
        for target, theirs in _layers_reached(name, layer):
            if theirs > mine:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} ({LAYERS[mine][0]}) imports "
                           f"{target} ({LAYERS[theirs][0] if theirs < len(LAYERS) else 'viz'})")
    assert not bad, "an import points up a layer; move the code down, or invert the " \
        "dependency (a hook or registry the higher layer fills):\n" + "\n".join(sorted(set(bad)))


def test_module_level_imports_form_no_cycle():
    graph = nx.DiGraph()
    for path, layer, _node, in_function, type_checking, name in _engine_imports():
        reached = _layers_reached(name, layer)
        if not (in_function or type_checking) and reached and reached[0][0] in layer:
            graph.add_edge(_package_of(path), reached[0][0])
    graph.remove_edges_from(nx.selfloop_edges(graph))
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, f"engine files import each other in a circle: {cycles}"


def test_function_level_imports_are_few_and_say_why():
    found, silent = [], []
    for path, _layer, node, in_function, _type_checking, name in _engine_imports():
        if not in_function:
            continue
        where = f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
        found.append(where)
        lines = path.read_text().splitlines()
        above = node.lineno - 2
        comment = [lines[node.lineno - 1]]
        while above >= 0 and lines[above].strip().startswith("#"):
            comment.append(lines[above])
            above -= 1
        if not any(REASON in line for line in comment):
            silent.append(where)
    assert not silent, f"an import inside a function needs a `{REASON} why` comment:\n" + \
        "\n".join(silent)
    assert len(set(found)) <= MAX_FUNCTION_LEVEL_IMPORTS, \
        "more imports inside functions than before:\n" + "\n".join(sorted(set(found)))
