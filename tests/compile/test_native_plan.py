"""The whole-plan hook (`Backend.compile_plan`, engine/native_plan.py), on stand-in
backends: one that takes every plan by running the per-kernel plan's kernels through an
interpreter of the request, one that declines at once, one that declines at its first
call. Oracle: the same step compiled on the NumPy backend (which has no hook) and run
eagerly; the engine's promises: state written back, results not aliasing state, and
`backend_info()` saying which path runs and why."""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.backends import registry
from graphgrad.backends.base import PlanUnsupported
from graphgrad.backends.numpy_backend import NumpyBackend


def _run_request(backend, request, args):
    """The request's nodes in its order, on the values it was handed (an interpreter)."""
    graph, env = request.graph, dict(zip(request.arguments, args))
    for n in request.order:
        data = graph[n]
        if n in env:
            continue
        values = [env[a] for a in graph.args(n)]
        if data["op"] == "get":
            env[n] = values[0][data["attrs"]["index"]]
        elif data["op"] == "fused":
            env[n] = backend.compile_fused(data["attrs"]["program"])(*values)
        else:
            env[n] = backend.kernels[data["op"]](*values, **data["attrs"])
    return tuple(env[n] for n in request.results)


class _Taking(NumpyBackend):
    """Takes every plan: interprets the request on the arguments it is handed."""

    name = "taking"

    def compile_plan(self, request):
        self.requests = getattr(self, "requests", []) + [request]

        def run(*args):
            return _run_request(self, request, args)

        run.source = "# the taking backend's plan"
        return run


class _Declining(NumpyBackend):
    name = "declining"

    def compile_plan(self, request):
        raise PlanUnsupported("op 'conv2d' has no whole-plan code")


class _DecliningLater(NumpyBackend):
    name = "declining_later"

    def compile_plan(self, request):
        def run(*args):
            raise PlanUnsupported("Numba could not type the plan")
        return run


def _registered(cls):
    registry.register(cls.name, cls)
    yield registry.get_backend(cls.name)
    registry._factories.pop(cls.name, None)
    registry._instances.pop(cls.name, None)


@pytest.fixture(params=[_Taking, _Declining, _DecliningLater])
def backend(request):
    yield from _registered(request.param)


@pytest.fixture
def taking():
    yield from _registered(_Taking)


def _train(backend_name, steps=3):
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.Adam(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = gg.compile(step, backend=backend_name) if backend_name else step
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = rng.integers(0, 3, 6)
    losses = [float(fn(gg.tensor(x), gg.tensor(y)).item()) for _ in range(steps)]
    return losses, [p.numpy().copy() for p in model.parameters()], fn


def test_whole_plan_hook_gives_the_per_kernel_numbers(backend):
    losses, params, fn = _train(backend.name)
    want_losses, want_params, _ = _train(None)  # eager, NumPy
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    for got, want in zip(params, want_params):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    info = fn.backend_info()
    if isinstance(backend, _Taking):
        assert info == "whole plan compiled by backend 'taking'"
        assert "the taking backend's plan" in fn.source and "state model.0.weight" in fn.source
    elif isinstance(backend, _Declining):
        assert info.startswith("per-kernel plan: backend 'declining' declined")
        assert "op 'conv2d'" in info
    else:
        assert "Numba could not type the plan" in info
        assert "native(" not in fn.source  # the per-kernel plan's source again


def test_a_backend_without_the_hook_says_so():
    _, _, fn = _train("numpy", steps=1)
    assert fn.backend_info() == "per-kernel plan (backend 'numpy' has no whole-plan compiler)"


def test_results_of_a_taken_plan_do_not_alias_state(taking):
    backend = taking
    w = gg.tensor(np.ones(3, np.float32), requires_grad=True)

    @gg.compile(backend=backend.name)
    def read(x):
        with gg.no_grad():
            w.add_(x)
        return w * 1.0, w.detach()

    _, alias = read(gg.tensor(np.ones(3, np.float32)))
    request = backend.requests[-1]
    assert set(request.results) >= {request.graph.outputs[0]}
    alias.numpy()[...] = 7  # the user's array: the parameter must not change
    np.testing.assert_array_equal(w.numpy(), [2, 2, 2])


def test_a_taken_plan_with_nothing_to_return(taking):
    @gg.compile(backend=taking.name)
    def nothing(x):
        (x * 2).sum()

    assert nothing(gg.tensor(np.ones(3, np.float32))) is None
    assert nothing.backend_info() == "whole plan compiled by backend 'taking'"
