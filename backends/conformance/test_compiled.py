"""Compiled training steps on the backend against the NumPy backend (rule
'compiled-matches-numpy').

The optional members and everything a plan hands a kernel (specialized kernels,
column-major weights, flat optimizer state, fused kernels with `out=` buffers,
hyperparameters as Python floats) are only exercised under `gg.compile`. Each test
runs a few compiled training steps (training.py: three models, every built-in
optimizer, with the default passes and with none) from the same initial weights on
the backend under test and on the NumPy backend without passes, and compares the
losses, the gradients after every step, and the final parameters, buffers and
optimizer state. A failure replays the kernels the plan called on the NumPy
reference (blame.py) and names the one that disagrees. Oracle: the NumPy backend.
"""

import functools

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.backends.conformance import training
from graphgrad.backends.conformance.blame import blame, recording
from graphgrad.backends.conformance.cases import compare
from graphgrad.backends.conformance.checks import ConformanceFailure
from graphgrad.backends.conformance.plugin import BLAME, record_error

pytestmark = [pytest.mark.conformance(check="compiled", row="(compiled)"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

TOLERANCE = {"float32": (2e-3, 1e-5), "float64": (1e-7, 1e-10)}
COMBINATIONS = [(m, o, p) for m in training.MODELS for o in training.PER_MODEL[m]
                for p in ("default", "none")]


def _dtype(backend) -> str:
    return "float32" if "float32" not in backend.unsupported_dtypes else "float64"


@functools.cache
def reference(model: str, optimizer: str, dtype: str) -> training.Run:
    net, loss_fn = training.initial_model(model, dtype)
    return training.train(net, loss_fn, optimizer, "numpy", "none",
                          training.batches(model, dtype))


def _differences(run, ref, dtype, node=None):
    """(what, where) of the first quantity that differs, step by step (the worst error
    of those that agree goes to the report)."""
    rtol, atol = TOLERANCE[dtype]
    pairs = [(f"step {i + 1}: loss", a, b) for i, (a, b) in enumerate(zip(run.losses,
                                                                          ref.losses))]
    for i, (g, h) in enumerate(zip(run.grads, ref.grads)):
        pairs += [(f"step {i + 1}: gradient of {n!r}", g.get(n), h[n]) for n in h]
    pairs += [(f"parameter {n!r} after {training.STEPS} steps", run.params.get(n), v)
              for n, v in ref.params.items()]
    pairs += [(f"buffer {n!r}", run.buffers.get(n), v) for n, v in ref.buffers.items()]
    pairs += [(f"optimizer state {n!r}", run.state.get(n), v) for n, v in ref.state.items()]
    for what, got, want in pairs:
        if got is None:
            return what, "is missing"
        if got.shape != want.shape or got.dtype != want.dtype:
            return what, f"is {got.dtype}{list(got.shape)}, expected {want.dtype}" \
                         f"{list(want.shape)}"
        ratio, abs_err, at = compare(got, want, rtol, atol)
        if ratio > 1.0:
            return what, f"differs from the NumPy backend's {at} (|error| {abs_err:.3g})"
        if node is not None:
            record_error(node, ratio, abs_err, f"compiled {dtype}, {what}")
    return None


@pytest.mark.parametrize("model, optimizer, passes", COMBINATIONS,
                         ids=[f"{m}-{o}-passes={p}" for m, o, p in COMBINATIONS])
def test_compiled_training(backend, model, optimizer, passes, request):
    dtype = _dtype(backend)
    where = (f"compiled training step ({model}, {optimizer}, passes={passes!r}, {dtype}) on "
             f"backend {backend.name!r}")
    net, loss_fn = training.initial_model(model, dtype)
    with recording(backend) as calls:
        try:
            run = training.train(net, loss_fn, optimizer, backend.name, passes,
                                 training.batches(model, dtype))
            problem = _differences(run, reference(model, optimizer, dtype), dtype,
                                   request.node)
        except AssertionError:
            raise
        except Exception as exc:
            problem = ("raised", f"{type(exc).__name__}: {exc}")
    if calls.violations:
        request.node.user_properties.append((BLAME, calls.violations[0].kernel))
        raise calls.violations[0]
    if problem is None:
        return
    what, how = problem
    culprits = blame(calls)
    if culprits:
        call, wrong = culprits[0]
        request.node.user_properties.append((BLAME, call.op.removesuffix(" (specialized)")))
        how += f"; kernel {call.op!r} is to blame: on {call}, its {wrong}"
    raise ConformanceFailure(where, f"{what} {how}", "compiled-matches-numpy",
                             cause=f"compiled training: {how.split(':')[0].split(' at ')[0]}")


def test_every_builtin_optimizer_is_trained():
    missing = training.uncovered_optimizers()
    assert not missing, f"no compiled conformance run uses {missing}: add them to " \
                        "graphgrad/backends/conformance/training.py OPTIMIZERS"


def test_compiled_dropout_masks(backend):
    """Dropout under gg.compile draws a fresh mask from the backend's generator every
    call: each element is 0 or x / (1 - p), about p of them 0, and the gradient is the
    same mask."""
    dtype = _dtype(backend)
    drop = gg.nn.Dropout(0.5)
    x = np.random.default_rng(4).uniform(1, 2, (40, 50)).astype(dtype)

    @gg.compile(backend=backend.name)
    def step(x):
        x.requires_grad_(True)
        y = drop(x)
        y.sum().backward()
        return y, x.grad

    for _ in range(2):
        y, g = (t.numpy() for t in step(gg.tensor(x, device=backend.name)))
        kept = y != 0
        where = f"compiled dropout (p=0.5) of {dtype}{list(x.shape)} on backend {backend.name!r}"
        if not np.allclose(y[kept], 2 * x[kept], rtol=1e-6) or not 0.4 < kept.mean() < 0.6:
            raise ConformanceFailure(where, f"{kept.mean():.0%} kept, kept values "
                                     "not x / (1 - p)", "compiled-matches-numpy")
        if not np.allclose(g, 2.0 * kept):
            raise ConformanceFailure(where, "the gradient is not the mask / (1 - p)",
                                     "compiled-matches-numpy")
