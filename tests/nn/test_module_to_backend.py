"""Module.to(backend): parameters move in place, so optimizers keep working.

Oracle: the same training run on the default NumPy backend. The target is a second,
separately registered instance of the NumPy backend ("numpy_twin"), which makes a real
move between backend objects testable without a GPU: every mixed-backend op would fail.
"""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.backends import registry
from graphgrad.backends.numpy_backend import NumpyBackend


class TwinBackend(NumpyBackend):
    name = "numpy_twin"


@pytest.fixture(scope="module", autouse=True)
def twin():
    registry.register("numpy_twin", TwinBackend)
    yield


def run(move_before_optimizer, move, compiled=False):
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    if move and move_before_optimizer:
        model.to("numpy_twin")
    opt = optim.Adam(model.parameters(), lr=0.05)
    if move and not move_before_optimizer:
        model.to("numpy_twin")
    device = "numpy_twin" if move else None
    rng = np.random.default_rng(0)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = gg.compile(step, backend=device) if compiled else step
    for _ in range(3):
        x = gg.tensor(rng.standard_normal((5, 3)), dtype="float32", device=device)
        y = gg.tensor(rng.integers(0, 2, 5), device=device)
        fn(x, y)
    return model, opt


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("before", [True, False], ids=["move-then-optimizer",
                                                       "optimizer-then-move"])
def test_training_after_a_move_matches_training_in_place(before, compiled):
    ref, _ = run(before, move=False)
    moved, opt = run(before, move=True, compiled=compiled)
    for (name, a), b in zip(ref.state_dict().items(), moved.state_dict().values()):
        assert b.device == "numpy_twin", name
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)
    for state in opt.state.values():
        assert all(t.device == "numpy_twin" for t in state.values())


def test_move_keeps_objects_and_moves_grads():
    m = nn.Linear(2, 2)
    m(gg.ones(1, 2)).sum().backward()
    ids = [id(p) for p in m.parameters()]
    m.to("numpy_twin")
    assert [id(p) for p in m.parameters()] == ids
    assert m.weight.device == "numpy_twin" and m.weight.grad.device == "numpy_twin"
    m.cpu()
    assert m.weight.device == "numpy" and m.weight.requires_grad


def test_a_backend_object_is_a_place_not_a_dtype():
    twin = registry.get_backend("numpy_twin")
    model = nn.Linear(3, 2).to(twin)
    assert model.weight._backend is twin and model.weight.dtype == gg.float32
    t = gg.ones(2).to(twin)
    assert t._backend is twin and t.dtype == gg.float32
    with pytest.raises(gg.DtypeError, match="complex64"):  # a dtype name, not a backend
        nn.Linear(3, 2).to("complex64")
