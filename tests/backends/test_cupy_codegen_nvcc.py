"""Generated CUDA compiles with nvcc, and computes what the NumPy kernels compute.

Each program's standalone translation unit (cuda_standalone.py, with its host entry) is
compiled by `nvcc -shared`, which builds the `__global__` kernel for the GPU and the same
element function for the CPU; the host entry then runs on this machine (no GPU needed)
and its results are compared with the oracle: the program run step by step with the
NumPy backend's kernels. The ElementwiseKernel form (the same body inside a wrapper
shaped like CuPy's, inputs and outputs bound by reference) is compiled to PTX.
The CPU run checks the expressions' logic, broadcasting and dtypes; the GPU's own math
library (libdevice) is only compiled here, not run. Skipped where nvcc is absent.

Programs: every elementwise op alone in float32 and float64 (and int64/bool where the op
takes them), groups traced from real code (Adam update, ReLU backward mask, the fusion
benchmark function and its gradient, sigmoid + BCE and its gradient, mixed dtypes, an
output smaller than the iteration shape), and the fused nodes the fusion pass makes of
a compiled digits-style MLP training step.
"""

import ctypes
import math
import shutil
import subprocess

import numpy as np
import pytest
from cupy_fused_cases import Case, group_cases, single_op_cases

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.backends import cuda_codegen as cg
from graphgrad.backends import cuda_standalone as cs
from graphgrad.backends import registry
from graphgrad.backends.base import Backend
from graphgrad.backends.numpy_backend import NumpyBackend
from graphgrad.ir.fused import split_by_output_shape

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc (CUDA compiler) is not installed")

DEVICE_PTX = ["-gencode", "arch=compute_75,code=compute_75"]
TOLERANCE = {np.dtype("float32"): dict(rtol=2e-5, atol=1e-6),
             np.dtype("float64"): dict(rtol=1e-12, atol=1e-14)}
# Groups chain ops: log(1 - sigmoid(z)) at z = 8 turns a one-ulp difference in the sigmoid
# (2e-8 of 3e-4) into 3e-5 of the result, so float32 groups get a looser bound.
GROUP_TOLERANCE = {**TOLERANCE, np.dtype("float32"): dict(rtol=2e-4, atol=1e-5)}


def kernels_of(program) -> list:
    """What a case compiles: the split the CuPy backend launches, and where the shapes
    broadcast together, the whole program as one standalone kernel too."""
    programs = [sub for sub, _, _ in split_by_output_shape(program)]
    try:
        cs.iteration_shape(program)
    except ValueError:  # outputs of unrelated shapes: only the split exists
        return programs
    return programs + [program]


def build_library(cases, directory) -> ctypes.CDLL:
    """Compile every case's kernels (standalone form + host entry) into one library."""
    unit = cs.translation_unit([cs.raw_source(p, host_entry=True)
                                for c in cases for p in kernels_of(c.program)])
    src, lib = directory / "kernels.cu", directory / "kernels.so"
    src.write_text(unit)
    # Device code is compiled to PTX (embedded), not on to SASS: a third of the time.
    result = subprocess.run([NVCC, "-shared", "-Xcompiler", "-fPIC", *DEVICE_PTX, "-o",
                             str(lib), str(src)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    return ctypes.CDLL(str(lib))


def run_program(lib, program, inputs) -> list[np.ndarray]:
    raw = cs.raw_source(program, host_entry=True)
    ins = [np.ascontiguousarray(np.asarray(a, dtype=d))
           for a, (_, d) in zip(inputs, program.input_types)]
    outs = [np.empty(s, d) for s, d in program.output_types]
    fn = getattr(lib, raw.name + "_host")
    fn(*[ctypes.c_void_p(a.ctypes.data) for a in ins + outs],
       ctypes.c_longlong(math.prod(raw.shape)))
    return outs


def run_split(lib, case: Case) -> list[np.ndarray]:
    """The case run as the backend runs it: one kernel per output shape."""
    results = [None] * len(case.program.outputs)
    for sub, ins, outs in split_by_output_shape(case.program):
        for j, value in zip(outs, run_program(lib, sub, [case.inputs[a] for a in ins])):
            results[j] = value
    return results


def check_case(lib, case: Case, tolerance) -> None:
    with np.errstate(all="ignore"):
        want = case.expected()
    assert_matches(run_split(lib, case), want, case.name, tolerance)
    if case.program in kernels_of(case.program):
        assert_matches(run_program(lib, case.program, case.inputs), want, case.name, tolerance)


def assert_matches(got, want, name, tolerance=TOLERANCE):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, name
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, equal_nan=True, err_msg=name, **tolerance[g.dtype])
        else:
            np.testing.assert_array_equal(g, w, err_msg=name)


SINGLE = single_op_cases()
GROUPS = group_cases()


@pytest.fixture(scope="module")
def single_lib(tmp_path_factory):
    return build_library(SINGLE, tmp_path_factory.mktemp("single"))


@pytest.fixture(scope="module")
def group_lib(tmp_path_factory):
    return build_library(GROUPS, tmp_path_factory.mktemp("groups"))


@pytest.mark.parametrize("case", SINGLE, ids=lambda c: c.name)
def test_each_op_alone_matches_numpy(single_lib, case):
    check_case(single_lib, case, TOLERANCE)


@pytest.mark.parametrize("case", GROUPS, ids=lambda c: c.name)
def test_fused_groups_match_numpy(group_lib, case):
    check_case(group_lib, case, GROUP_TOLERANCE)


def test_group_cases_include_several_output_shapes():
    split = [c.name for c in GROUPS if len(split_by_output_shape(c.program)) > 1]
    assert split and len(split) < len(GROUPS)


def elementwise_kernel_unit(programs) -> str:
    """kernel_parts bodies inside wrappers shaped like CuPy's ElementwiseKernel code."""
    chunks, helpers = [], set()
    for p in programs:
        parts = cg.kernel_parts(p)
        helpers |= set(cg.helpers_used(parts.body))
        params, binds = [], []
        for kind, text in (("in", parts.in_params), ("out", parts.out_params)):
            for decl in text.split(", "):
                cupy_type, name = decl.split()
                ctype = cg.C_TYPES[np.dtype(cupy_type)][0]
                params.append(f"{'const ' if kind == 'in' else ''}{ctype}* _raw_{name}")
                binds.append(f"{'const ' if kind == 'in' else ''}{ctype}& {name} = _raw_{name}[i];")
        chunks.append("\n".join([
            f'extern "C" __global__ void {parts.name}({", ".join(params)}, long long n) {{',
            "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;"
            " i += (long long)gridDim.x * blockDim.x) {",
            *["    " + b for b in binds], *["    " + x for x in parts.body.splitlines()],
            "  }", "}"]))
    return "\n\n".join([cg.preamble(tuple(h for h in cg.HELPERS if h in helpers)), *chunks])


def test_elementwise_kernel_form_compiles_to_ptx(tmp_path):
    programs = {cg.signature(sub): sub for c in SINGLE + GROUPS
                for sub, _, _ in split_by_output_shape(c.program)}
    src = tmp_path / "elementwise.cu"
    src.write_text(elementwise_kernel_unit(programs.values()))
    result = subprocess.run([NVCC, "--ptx", "-o", str(tmp_path / "e.ptx"), str(src)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "e.ptx").read_text().count(".entry") == len(programs)


# ---------------------------------------------------------------------- the fusion pass

class StepByStepNumpy(NumpyBackend):
    """NumPy kernels with the base class's op-by-op fused runner (a plain reference)."""

    name = "numpy-step-by-step"
    compile_fused = Backend.compile_fused


@pytest.fixture
def step_by_step_backend():
    registry.register(StepByStepNumpy.name, StepByStepNumpy)
    yield StepByStepNumpy.name
    registry._factories.pop(StepByStepNumpy.name, None)
    registry._instances.pop(StepByStepNumpy.name, None)


def mlp_fused_programs(backend, optimizer):
    """Fused programs of a compiled 64-32-10 MLP step (ReLU, Dropout, cross-entropy)."""
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 10))
    opt = optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()

    @gg.compile(backend=backend)
    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    train_step(gg.tensor(rng.random((16, 64), dtype=np.float32)),
               gg.tensor(rng.integers(0, 10, 16)))
    graph = train_step.last.optimized
    return [graph[n]["attrs"]["program"] for n in graph.topo_order()
            if graph[n]["op"] == "fused"]


def random_inputs(program, seed=0):
    rng = np.random.default_rng(seed)
    values = []
    for shape, dtype in program.input_types:
        if dtype.kind == "f":  # positive: square roots and logs of state stay real
            values.append(rng.uniform(0.1, 1.0, shape).astype(dtype))
        elif dtype.kind == "b":
            values.append(rng.random(shape) > 0.5)
        else:
            values.append(rng.integers(1, 6, shape).astype(dtype))
    return values


@pytest.mark.parametrize("optimizer", [
    lambda ps: optim.Adam(ps, lr=1e-3), lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)],
    ids=["adam", "sgd-momentum"])
def test_fused_nodes_of_a_compiled_mlp_step(step_by_step_backend, optimizer, tmp_path):
    programs = mlp_fused_programs(step_by_step_backend, optimizer)
    assert len(programs) >= 3  # forward ReLU, its backward mask, the parameter updates
    cases = [Case(f"mlp-{i}", p, random_inputs(p, i)) for i, p in enumerate(programs)]
    lib = build_library(cases, tmp_path)
    for case in cases:
        check_case(lib, case, GROUP_TOLERANCE)
