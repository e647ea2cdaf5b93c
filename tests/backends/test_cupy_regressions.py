"""Regressions of issue 19's findings on the CuPy backend, run under the CPU emulation of CuPy.

Each test runs under the emulation (`[cupy-emulated]`) and, marked gpu, on a real device
(`[cupy-gpu]`, skipped without one). Each failed on the code before the fix, under the
emulation (which keeps CuPy's
rules: no implicit device-to-host conversion, index wrapping, atomics in a random order,
by-reference binding of ElementwiseKernel arguments). Oracles: the NumPy backend on the
same code and weights (compiled training; float32 tolerance), NumPy's `add.at` and
IndexError (scatters, bounds), hand-computed values (the aliasing case), and setup.cfg
itself (install hints). Nothing here says anything about a GPU.
"""

import configparser
import re
from pathlib import Path

import numpy as np
import pytest
from cupy_emulation import fixtures

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.backends.cupy_backend import INSTALL_HINT
from graphgrad.backends.cupy_indexing import DeviceIndexError
from graphgrad.ir.fused import FusedProgram, Step

ROOT = Path(__file__).resolve().parents[2]

# Fixtures, under their names here: `cupy_backend` runs a test under the emulation and
# (marked gpu) on a real device; `emulated_cupy` only under the emulation.
cupy_backend, emulated_cupy = fixtures.cupy_backend, fixtures.emulated_cupy


def mlp_losses(backend, opt_factory, passes, steps=3):
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 5)).to(backend)
    opt = opt_factory(model.parameters())
    loss_fn = nn.CrossEntropyLoss()

    @gg.compile(backend=backend, passes=passes)
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    x = gg.tensor(rng.random((8, 12), dtype=np.float32))
    y = gg.tensor(rng.integers(0, 5, 8))
    return [step(x, y).item() for _ in range(steps)]


OPTIMIZERS = {
    "adam": lambda p: optim.Adam(p, lr=1e-2),
    "sgd-momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
}
#: Every compilable optimizer with settings that reach the plan as Python numbers.
ALL_OPTIMIZERS = {
    **OPTIMIZERS,
    "adamw": lambda p: optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    "rmsprop": lambda p: optim.RMSprop(p, lr=1e-2, momentum=0.5),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.1),
    "adadelta": lambda p: optim.Adadelta(p, lr=1.0),
    "adamax": lambda p: optim.Adamax(p, lr=1e-2),
    "nadam": lambda p: optim.NAdam(p, lr=1e-2),
    "radam": lambda p: optim.RAdam(p, lr=1e-2),
    "asgd": lambda p: optim.ASGD(p, lr=1e-2),
    "rprop": lambda p: optim.Rprop(p, lr=1e-2),
}


@pytest.mark.parametrize("passes", ["default", "none"])
def test_compiled_training_step_runs_and_matches_numpy(cupy_backend, passes):
    """Finding: the first call crashed (constants frozen from trace-time tensors held
    device arrays; passes and lowering called np.asarray on them)."""
    got = mlp_losses("cupy", OPTIMIZERS["adam"], passes)
    np.testing.assert_allclose(got, mlp_losses("numpy", OPTIMIZERS["adam"], passes),
                               rtol=1e-5)


def test_cast_of_a_python_number(cupy_backend):
    """Finding: `cast` on a Python float (an optimizer setting) raised AttributeError, so
    every optimizer but Adam failed compiled with passes="none"."""
    out = cupy_backend.kernels["cast"](0.5, dtype=np.dtype("float32"))
    assert cupy_backend.to_numpy(out).dtype == np.float32
    got = mlp_losses("cupy", OPTIMIZERS["sgd-momentum"], "none")
    np.testing.assert_allclose(got, mlp_losses("numpy", OPTIMIZERS["sgd-momentum"], "none"),
                               rtol=1e-5)


@pytest.mark.parametrize("passes", ["none", "default"])
@pytest.mark.parametrize("name", sorted(ALL_OPTIMIZERS))
def test_every_optimizer_compiled(cupy_backend, name, passes):
    """Finding: optimizer settings reach a `passes="none"` plan as Python numbers."""
    factory = ALL_OPTIMIZERS[name]
    np.testing.assert_allclose(mlp_losses("cupy", factory, passes),
                               mlp_losses("numpy", factory, passes), rtol=1e-5)


def test_fused_kernel_of_python_numbers_only(cupy_backend):
    """CuPy sizes an ElementwiseKernel's loop by its array arguments ("Loop size is
    undecided" without one): a fused group of optimizer settings gets Python numbers."""
    f32 = np.dtype("float32")
    program = FusedProgram((((), f32), ((), f32)),
                           (Step("mul", (0, 1), {}, (), f32),), (2,))
    got = cupy_backend.compile_fused(program)(0.5, 3.0)
    assert cupy_backend.to_numpy(got) == np.float32(1.5)


def bad_index_calls(cp):
    x = cp.arange(12.0).reshape(3, 4)
    g = cp.ones((2, 4))
    big = cp.array([[0], [4], [1]])
    return {
        "index": lambda k: k["index"](x, cp.array([0, 3]), spec=(("tensor",),)),
        "index_backward": lambda k: k["index_backward"](
            g, cp.array([1, -4]), spec=(("tensor",),), shape=(3, 4)),
        "gather": lambda k: k["gather"](x, big, axis=1),
        "gather_backward": lambda k: k["gather_backward"](
            cp.ones((3, 1)), cp.array([[0], [-1], [1]]), axis=1, shape=(3, 4)),
        "one_hot": lambda k: k["one_hot"](cp.array([1, 5]), num_classes=5),
    }


@pytest.mark.parametrize("op", ["index", "index_backward", "gather", "gather_backward",
                                "one_hot"])
def test_out_of_range_indices_raise_when_results_are_read(cupy_backend, op, monkeypatch):
    """Finding: CuPy wraps out-of-range indices silently. The check runs on the device
    without a host synchronization per kernel: nothing is read back until `to_numpy`."""
    cp = cupy_backend._cp
    reads = []
    monkeypatch.setattr(cp, "asnumpy", lambda a, *args, **kw: reads.append(1) or a.get())
    result = bad_index_calls(cp)[op](cupy_backend.kernels)
    assert reads == [], "the kernel waited for the device"
    with pytest.raises(DeviceIndexError, match=op) as err:
        cupy_backend.to_numpy(result)
    assert isinstance(err.value, IndexError) and isinstance(err.value, gg.GraphgradError)
    cupy_backend.to_numpy(result)  # reported once; the flag is clear again


def test_valid_negative_indices_still_work_where_numpy_takes_them(cupy_backend):
    cp, k = cupy_backend._cp, cupy_backend.kernels
    x = np.arange(12.0).reshape(3, 4)
    got = k["index"](cp.asarray(x), cp.array([-1, 0]), spec=(("tensor",),))
    np.testing.assert_array_equal(cupy_backend.to_numpy(got), x[[-1, 0]])


def test_bad_labels_in_a_compiled_loss_raise(cupy_backend):
    model = nn.Linear(4, 3).to("cupy")

    @gg.compile(backend="cupy")
    def loss(x, y):
        return nn.CrossEntropyLoss()(model(x), y)

    x = gg.tensor(np.ones((2, 4), np.float32)).to("cupy")
    with pytest.raises(DeviceIndexError, match="index 7 is out of bounds"):
        loss(x, gg.tensor(np.array([0, 7])).to("cupy")).item()


def test_scatter_of_duplicates_is_deterministic_and_equals_numpy(cupy_backend):
    """Finding: `add.at` (atomics) summed duplicates in a changing order. Values whose
    float32 sum depends on the order; the emulation shuffles atomics at every call."""
    cp, k = cupy_backend._cp, cupy_backend.kernels
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 3, 400)
    g = (rng.normal(size=(400, 2)) * 10.0 ** rng.integers(-4, 8, (400, 1))).astype(np.float32)
    want = np.zeros((3, 2), np.float32)
    np.add.at(want, idx, g)
    for _ in range(4):
        got = k["index_backward"](cp.asarray(g), cp.asarray(idx), spec=(("tensor",),),
                                  shape=(3, 2))
        np.testing.assert_array_equal(cupy_backend.to_numpy(got), want)
    gw = np.zeros((3, 5), np.float32)
    gidx = rng.integers(0, 5, (3, 50))
    gg_ = g[:150, 0].reshape(3, 50)
    np.add.at(gw, (np.arange(3)[:, None], gidx), gg_)
    for _ in range(4):
        got = k["gather_backward"](cp.asarray(gg_), cp.asarray(gidx), axis=1, shape=(3, 5))
        np.testing.assert_array_equal(cupy_backend.to_numpy(got), gw)


def test_scatter_uses_64_bit_sizes_and_no_atomics(emulated_cupy, monkeypatch):
    """Finding: CuPy's scatter takes 32-bit sizes. The kernels index with long long, and
    the backend never calls add.at / scatter_add."""
    from graphgrad.backends import cupy_indexing

    cp = emulated_cupy._cp
    monkeypatch.setattr(cp.add, "at", None)
    for source in (cupy_indexing.CHECK_SOURCE, cupy_indexing.SEGMENT_SUM_SOURCE):
        assert not re.search(r"\b(int|unsigned|size_t)\s+\w+\s*[=;,)]", source)
    calls = bad_index_calls(cp)
    for op in ("index_backward", "gather_backward"):
        calls[op](emulated_cupy.kernels)  # (would raise TypeError calling add.at)
    with pytest.raises(DeviceIndexError):
        emulated_cupy.synchronize()


def test_fused_kernel_ignores_a_buffer_overlapping_an_input(cupy_backend):
    """Finding: ElementwiseKernel binds by reference (only CuPy's ufuncs copy overlapping
    inputs). An `out` buffer that is another view of an input's memory must not be
    written while the input is read."""
    cp = cupy_backend._cp
    f32 = np.dtype("float32")
    program = FusedProgram((((4, 4), f32),), (Step("mul", (0, 0), {}, (4, 4), f32),), (1,))
    base = cp.asarray(np.arange(16, dtype=np.float32).reshape(4, 4))
    want = (np.arange(16, dtype=np.float32).reshape(4, 4).T) ** 2
    got = cupy_backend.compile_fused(program)(base.T, out=(base,))
    np.testing.assert_array_equal(cupy_backend.to_numpy(got), want)


def _extras() -> dict[str, str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return {k: v.strip() for k, v in cfg["options.extras_require"].items()}


def test_install_hint_names_installable_things():
    """Finding: the hint said `pip install graphgrad[cuda]`, which no index serves, and
    README's CUDA version for `.[cuda]` disagreed with setup.cfg."""
    extras = _extras()
    assert "graphgrad[" not in INSTALL_HINT
    for extra in re.findall(r"\[(\w+)\]", INSTALL_HINT):
        assert extra in extras, f"the hint names extra {extra!r}, setup.cfg has {extras}"
    for major in re.findall(r"cupy-cuda(\d+)x", INSTALL_HINT):
        assert extras.get(f"cuda{major}") == f"cupy-cuda{major}x"
    for name, requirement in extras.items():
        found = re.fullmatch(r"cupy-cuda(\d+)x", requirement)
        if found:
            assert name == f"cuda{found.group(1)}", f"extra {name!r} installs {requirement}"


def test_readme_cuda_extras_exist_and_match_their_cuda_version():
    extras = _extras()
    readme = (ROOT / "README.md").read_text()
    for extra in re.findall(r'"\.\[(cuda\w*)\]"', readme):
        assert extra in extras, f"README names .[{extra}], setup.cfg has {sorted(extras)}"
    for extra, major in re.findall(r'"\.\[(cuda\w*)\]"`?\s*\(CUDA (\d+)\)', readme):
        assert extras[extra] == f"cupy-cuda{major}x"


def test_index_checks_the_axis_each_index_array_indexes(cupy_backend):
    """x[:, idx] checks idx against axis 1, x[mask, idx] against the axis after the mask's:
    valid indices give NumPy's values, an index too large for its axis raises."""
    cp, k = cupy_backend._cp, cupy_backend.kernels
    x = np.arange(24.0).reshape(2, 3, 4)
    mask = np.array([[True, False, True], [False, True, False]])
    cases = [((("slice", None, None, None), ("tensor",)), [np.array([2, -3])], x[:, [2, -3]]),
             ((("tensor",), ("tensor",)), [mask, np.array([3, 0, 1])], x[mask, [3, 0, 1]]),
             ((("ellipsis",), ("tensor",)), [np.array([3])], x[..., [3]])]
    for spec, arrays, want in cases:
        got = k["index"](cp.asarray(x), *map(cp.asarray, arrays), spec=spec)
        np.testing.assert_array_equal(cupy_backend.to_numpy(got), want)
    for spec, arrays in [((("slice", None, None, None), ("tensor",)), [np.array([3])]),
                         ((("tensor",), ("tensor",)), [mask, np.array([4, 0, 1])])]:
        got = k["index"](cp.asarray(x), *map(cp.asarray, arrays), spec=spec)
        with pytest.raises(DeviceIndexError, match="index"):
            cupy_backend.to_numpy(got)
