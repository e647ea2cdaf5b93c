"""The compiled call's fast path (engine/fast_call.py) serves repeated calls and steps
aside for every change the general path would act on.

Oracles: the same step run eagerly (PyTorch-style code, float64 NumPy arithmetic on
the same values), and the general path's own verdicts: `cache_info()` (traces, and in
the user's words why) and whether the signature-building `flatten_call` ran.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from cupy_emulation import fixtures

import graphgrad as gg
from graphgrad import nn, optim

gg_compile = sys.modules["graphgrad.compile"]
emulated_cupy = fixtures.emulated_cupy  # (the package's `compile` is the function)


@pytest.fixture
def general_calls(monkeypatch):
    """How many calls took the general path (built a signature)."""
    calls = []
    real = gg_compile.flatten_call

    def counting(*args):
        calls.append(1)
        return real(*args)
    monkeypatch.setattr(gg_compile, "flatten_call", counting)
    return calls


def _model_step():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.0), nn.Linear(4, 1))
    opt = optim.SGD(model.parameters(), lr=0.05)

    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    return model, opt, step


def _xy(n=5, dtype=np.float32, requires_grad=False):
    rng = np.random.default_rng(n)
    return (gg.tensor(rng.standard_normal((n, 3)).astype(dtype), requires_grad=requires_grad),
            gg.tensor(rng.standard_normal((n, 1)).astype(dtype)))


def test_repeated_calls_skip_the_signature_and_match_eager(general_calls):
    model, _, step = _model_step()
    compiled = gg.compile(step)
    emodel, _, estep = _model_step()  # the same start, run eagerly
    x, y = _xy()
    for _ in range(4):
        got, want = compiled(x, y).item(), estep(x, y).item()
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert len(general_calls) == 1  # only the first call built a signature
    info = compiled.cache_info()
    assert info.traces == 1 and info.hits == 3


@pytest.mark.parametrize("change, reason", [
    (lambda x, y: _xy(n=6), "changed"),                            # a shape
    (lambda x, y: _xy(dtype=np.float64), "changed"),               # a dtype
    (lambda x, y: _xy(requires_grad=True), "requires_grad"),       # requires_grad
    (lambda x, y: (x.numpy(), y), None),                           # a NumPy array
])
def test_a_changed_argument_takes_the_general_path(general_calls, change, reason):
    _, _, step = _model_step()
    compiled = gg.compile(step)
    x, y = _xy()
    compiled(x, y)
    compiled(x, y)
    before = len(general_calls)
    x2, y2 = change(x, y)
    compiled(x2, y2)
    assert len(general_calls) == before + 1
    info = compiled.cache_info()
    if reason is not None:
        assert info.traces == 2 and reason in info.records[-1].reason
    compiled(x, y)  # back to the first signature: found again, then fast again
    settled = len(general_calls)
    compiled(x, y)
    assert len(general_calls) == settled
    assert compiled.cache_info().traces == (1 if reason is None else 2)


def test_grad_mode_and_arity_take_the_general_path(general_calls):
    _, _, step = _model_step()
    compiled = gg.compile(lambda x, y: (x * y).sum())
    x, y = _xy(n=3)
    y = gg.tensor(np.ones((3, 3), np.float32))
    compiled(x, y)
    with gg.no_grad():
        compiled(x, y)
    assert compiled.cache_info().traces == 2
    assert "grad mode" in compiled.cache_info().records[-1].reason
    with pytest.raises(gg.GraphgradError):
        compiled(x)  # one argument: the general path says what is wrong
    with pytest.raises(gg.GraphgradError):
        compiled(x, y, y)


def test_a_failed_guard_retraces_and_says_why(general_calls):
    model, opt, step = _model_step()
    compiled = gg.compile(step)
    x, y = _xy()
    compiled(x, y)
    compiled(x, y)
    model[1].p = 0.5  # a layer's attribute read while tracing
    compiled(x, y)
    assert compiled.cache_info().traces == 2
    assert "p changed" in compiled.cache_info().records[-1].reason
    compiled(x, y)
    model.eval()  # a guarded module mode
    compiled(x, y)
    assert compiled.cache_info().traces == 3
    assert "training" in compiled.cache_info().records[-1].reason
    assert len(general_calls) == 3  # one per trace; the repeated call was fast


def test_a_guard_that_cannot_run_fails_over_to_the_general_path(general_calls):
    model, opt, step = _model_step()
    compiled = gg.compile(step)
    x, y = _xy()
    compiled(x, y)
    compiled(x, y)
    del opt.param_groups[0]["momentum"]  # a guard reads it: it raises inside the check
    with pytest.raises(Exception):  # noqa: B017  (the trace itself needs momentum)
        compiled(x, y)
    assert len(general_calls) == 2


def test_hyperparameters_are_read_afresh_on_the_fast_path():
    """lr is an input of the plan, not a guard: a changed lr takes effect at once."""
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)

    @gg.compile
    def step(x):
        opt.zero_grad()
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        return loss
    x = gg.tensor([1.0, 1.0])
    step(x)
    step(x)
    opt.param_groups[0]["lr"] = 1.0
    step(x)
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.2 - 1.0, 2.0 - 0.2 - 1.0], rtol=1e-6)
    assert step.cache_info().traces == 1


@pytest.mark.filterwarnings("ignore:gg.compile")  # (the warning about retracing)
def test_an_evicted_plan_is_not_served():
    compiled = gg.compile(lambda x: (x * 2).sum(), cache_size=1)
    a, b = gg.tensor(np.ones(3, np.float32)), gg.tensor(np.ones(4, np.float32))
    compiled(a)
    compiled(b)  # evicts a's plan
    assert compiled._hit_entry is compiled.last
    assert compiled(a).item() == 6.0 and compiled.cache_info().traces == 3


def test_a_plan_reads_tensors_of_a_backend_whose_arrays_it_takes_in_place(general_calls):
    """Numba's plans take NumPy-backend tensors as they are: repeated calls stay on the
    fast path, with no copy of the argument per call; a backend whose arrays differ
    (CuPy's, emulated) still gets a copy, on the general path."""
    pytest.importorskip("numba")
    model, _, step = _model_step()
    compiled = gg.compile(step, backend="numba")
    _, _, estep = _model_step()
    x, y = _xy()  # NumPy-backend tensors
    for _ in range(3):
        np.testing.assert_allclose(compiled(x, y).item(), estep(x, y).item(), rtol=1e-5)
    assert len(general_calls) == 1
    arrays = compiled._hit_entry.hit((x, y))
    assert arrays[0] is x._value and arrays[1] is y._value
    numba, numpy = gg.backends.get_backend("numba"), gg.backends.get_backend("numpy")
    assert numba.takes_arrays_of(numpy) and numpy.takes_arrays_of(numba)


def test_a_backend_takes_only_its_own_arrays_unless_it_says_otherwise(emulated_cupy):
    numpy = gg.backends.get_backend("numpy")
    assert emulated_cupy.takes_arrays_of(emulated_cupy)
    assert not emulated_cupy.takes_arrays_of(numpy) and not numpy.takes_arrays_of(emulated_cupy)


def test_module_optimizer_and_state_tensor_arguments_take_the_fast_path(general_calls):
    """Arguments in the signature by identity (a module, an optimizer, a parameter its
    optimizer updates) are checked by `is` on the fast path; another object there takes
    the general path and traces its own plan."""
    model, opt, _ = _model_step()

    def step(model, opt, w, x, y):
        opt.zero_grad()
        loss = ((model(x) * w.sum() - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    compiled = gg.compile(step)
    x, y = _xy()
    w = model[0].bias
    for _ in range(4):
        compiled(model, opt, w, x, y)
    assert len(general_calls) == 2  # the first call, and again with w by identity
    assert compiled.cache_info().traces == 1 and compiled.cache_info().hits == 3
    other, other_opt, _ = _model_step()
    compiled(other, other_opt, other[0].bias, x, y)
    assert compiled.cache_info().traces == 2
