"""The CuPy backend: availability everywhere; kernels, fused kernels and training under the
CPU emulation of CuPy on every run, and on a real GPU where one is present.

The availability contract's oracle is the contract itself (the exact reasons the backend
promises, the registry's error listing what is available), checked with a missing module
and with a stand-in `cupy` whose runtime reports no device. Everything else runs through
the `cupy_backend` fixture, twice: `[cupy-emulated]` on the CPU emulation of CuPy
(tests/cupy_emulation: CuPy's rules, generated CUDA compiled as host C++; not GPU
truth) and `[cupy-gpu]` (marked gpu) on a real device, skipped without one. The oracle
is the NumPy backend: each op's kernel on its registered samples, each fused program
(run op by op with NumPy kernels), and a compiled MLP trained for a few steps from the
same weights, to float32 tolerance.
"""

import subprocess
import sys
import types

import numpy as np
import pytest
from cupy_emulation import fixtures
from cupy_fused_cases import group_cases, single_op_cases, single_op_program

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.backends import get_backend, info, registry
from graphgrad.backends.cupy_backend import INSTALL_HINT, CupyBackend
from graphgrad.ops import REGISTRY

cupy_backend = fixtures.cupy_backend  # the fixture, under its name here


# ---------------------------------------------------------------------- availability

def fake_cupy(device_count):
    module = types.ModuleType("cupy")
    module.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=device_count))
    return module


def no_device():
    raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")


@pytest.fixture
def fresh_cupy_entry():
    """Forget what the registry learned about cupy before and after the test."""
    registry.register("cupy", CupyBackend)
    yield
    registry.register("cupy", CupyBackend)


def test_missing_cupy_is_unavailable_with_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail
    assert CupyBackend.availability() == (False, f"CuPy is not installed ({INSTALL_HINT})")


def test_no_cuda_device_is_unavailable_with_the_runtime_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(no_device))
    usable, reason = CupyBackend.availability()
    assert not usable
    assert reason.startswith("no CUDA device") and "no CUDA-capable device" in reason


def test_zero_devices_is_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(lambda: 0))
    assert CupyBackend.availability() == (False,
                                          "no CUDA device: the CUDA runtime reports 0 GPUs")


def test_registry_lists_the_reason_and_refuses_clearly(monkeypatch, fresh_cupy_entry):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(no_device))
    entry = {b.name: b for b in info()}["cupy"]
    assert not entry.usable and entry.reason.startswith("no CUDA device")
    assert "cupy" not in gg.backends.available() and "numpy" in gg.backends.available()
    with pytest.raises(gg.BackendError, match="no CUDA device") as err:
        get_backend("cupy")
    assert "numpy" in str(err.value).split("available backends: ")[1]  # (numba may be too)
    with pytest.raises(gg.BackendError, match="unavailable"):
        gg.tensor([1.0, 2.0]).to("cupy")


def test_importing_graphgrad_and_the_plugin_never_imports_cupy():
    code = ("import sys, graphgrad, graphgrad.backends.cupy_backend; "
            "sys.exit('cupy' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def kernel_cases(select):
    cases = []
    for name, op in sorted(REGISTRY.items()):
        if op.samples is None or op.random or not select(op):
            continue
        cases += [pytest.param(name, s, id=f"{name}-{i}") for i, s in enumerate(op.samples())]
    return cases


def test_every_registered_op_has_a_cupy_kernel(cupy_backend):
    """Every op of the registry, including those other branches add, needs a kernel."""
    missing = sorted(set(REGISTRY) - set(cupy_backend.kernels))
    assert not missing, f"ops without a cupy kernel: {', '.join(missing)}"


def test_the_emulation_says_so(cupy_backend):
    usable, reason = CupyBackend.availability()
    assert usable
    if cupy_backend.emulation:
        assert "emulation" in reason and "not GPU truth" in cupy_backend.device
    else:
        assert reason == "" and "emulation" not in cupy_backend.device


# ---------------------------------------------------------------------- kernels and training

def as_float32(a):
    a = np.asarray(a)
    return a.astype(np.float32) if a.dtype.kind == "f" else a


@pytest.mark.parametrize("name, sample", kernel_cases(lambda op: True))
def test_kernel_matches_numpy(cupy_backend, name, sample):
    host = [as_float32(a) for a in sample.args]
    want = get_backend("numpy").kernels[name](*host, **sample.kwargs)
    got = cupy_backend.kernels[name](*map(cupy_backend.from_numpy, host), **sample.kwargs)
    got = cupy_backend.to_numpy(got)
    assert got.shape == np.shape(want) and got.dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, equal_nan=True)


FUSED = single_op_cases() + group_cases()
_queued = []


def queue_all_fused_kernels(backend) -> None:
    """Under the emulation, make every case's kernels up front: it then compiles them in
    one g++ run at the first call (instead of one run per kernel)."""
    if backend.emulation and not _queued:
        _queued.append(CupyBackend())
        for case in FUSED:
            _queued[0].compile_fused(case.program)


@pytest.mark.parametrize("case", FUSED, ids=lambda c: c.name)
def test_fused_kernel_matches_numpy(cupy_backend, case):
    queue_all_fused_kernels(cupy_backend)
    run = cupy_backend.compile_fused(case.program)
    got = run(*[cupy_backend.from_numpy(np.asarray(a)) for a in case.inputs])
    got = got if isinstance(got, tuple) else (got,)
    with np.errstate(all="ignore"):
        want = case.expected()
    for g, w in zip(got, want):
        g = cupy_backend.to_numpy(g)
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=1e-5, equal_nan=True)


def test_fused_kernel_writes_into_buffers_handed_in(cupy_backend):
    case = next(c for c in FUSED if c.name == "adam-float32")
    arrays = [cupy_backend.from_numpy(np.asarray(a)) for a in case.inputs]
    # Reuse the parameter's own buffer for the updated parameter, as memory planning does.
    param = next(i for i, (s, _) in enumerate(case.program.input_types) if s == (16, 8))
    out = (arrays[param],) + (None,) * (len(case.program.outputs) - 1)
    got = cupy_backend.compile_fused(case.program)(*arrays, out=out)
    assert got[0] is arrays[param]
    np.testing.assert_allclose(cupy_backend.to_numpy(got[0]), case.expected()[0], rtol=2e-5)


def test_one_kernel_per_signature_whatever_the_shape(cupy_backend):
    # A backend of its own: the shared one may have built this kernel in an earlier test
    # (counting on the shared one made this test depend on the order tests run in).
    backend = CupyBackend()
    for shape in [(4, 8), (1000,), (3, 5, 7)]:
        x = np.zeros(shape, np.float32)
        backend.compile_fused(single_op_program("tanh", [x], {}))
    assert backend.fused_kernel_count == 1


def test_moving_tensors_and_reading_results(cupy_backend):
    x = gg.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    y = (x.to("cupy") * 2).sum()
    assert type(y._value).__module__.startswith("cupy")
    assert y.item() == 30.0
    assert y.to("numpy")._backend.name == "numpy"
    np.testing.assert_array_equal((x.to("cupy") + 1).numpy(), x.numpy() + 1)
    cupy_backend.synchronize()


def test_random_draws_follow_manual_seed(cupy_backend):
    gg.set_default_backend("cupy")
    gg.manual_seed(3)
    a = [gg.rand(4, 5).numpy(), gg.randn(3).numpy(), gg.randint(0, 9, (6,)).numpy(),
         gg.randperm(7).numpy()]
    gg.manual_seed(3)
    b = [gg.rand(4, 5).numpy(), gg.randn(3).numpy(), gg.randint(0, 9, (6,)).numpy(),
         gg.randperm(7).numpy()]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert 0 <= a[0].min() and a[0].max() < 1 and sorted(a[3]) == list(range(7))


def train_losses(backend, passes="default", steps=5):
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).to(backend)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()

    @gg.compile(backend=backend, passes=passes)
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    x = gg.tensor(rng.random((32, 64), dtype=np.float32))
    y = gg.tensor(rng.integers(0, 10, 32))
    return [step(x, y).item() for _ in range(steps)]


@pytest.mark.parametrize("passes", ["default", "none"])
def test_compiled_mlp_trains_like_numpy(cupy_backend, passes):
    np.testing.assert_allclose(train_losses("cupy", passes), train_losses("numpy"), rtol=1e-4)
