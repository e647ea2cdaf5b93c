"""Modules and optimizers as arguments of a compiled step: `step(model, opt, x, y)`.

They are part of the call's signature by identity (as torch.compile guards a module
argument by id): the same objects reuse the plan, other objects trace their own, and
everything that holds for a module reached through a closure holds for one passed in:
hyperparameters read at every call, train()/eval() seen, Python side effects refused.
Oracle: the same step run eagerly on a copy of the same model (float32, 1e-6).
"""

import copy

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim


def _model(seed=0):
    gg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def _step(model, opt, x, y):
    opt.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    opt.step()
    return loss


def _data(seed=1):
    rng = np.random.default_rng(seed)
    return gg.tensor(rng.standard_normal((16, 4)).astype(np.float32)), \
        gg.tensor(rng.standard_normal((16, 1)).astype(np.float32))


def test_a_compiled_step_taking_model_and_optimizer_trains_as_eager_with_one_trace():
    x, y = _data()
    model = _model()
    twin = copy.deepcopy(model)
    opt, twin_opt = optim.Adam(model.parameters(), lr=0.01), optim.Adam(twin.parameters(),
                                                                         lr=0.01)
    step = gg.compile(_step)
    for i in range(4):
        if i == 2:  # a hyperparameter changed between calls is read, not baked in
            opt.param_groups[0]["lr"] = twin_opt.param_groups[0]["lr"] = 0.05
        got = step(model, opt, x, y).item()
        want = _step(twin, twin_opt, x, y).item()
        assert got == pytest.approx(want, rel=1e-6)
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)
    assert step.cache_info().traces == 1
    assert "model.0.weight" in step.source  # state named after the argument


def test_other_objects_trace_their_own_plan_and_each_trains_its_own_weights():
    x, y = _data()
    a, b = _model(0), _model(1)
    b_before = [p.numpy().copy() for p in b.parameters()]
    opt_a, opt_b = optim.SGD(a.parameters(), lr=0.1), optim.SGD(b.parameters(), lr=0.1)
    step = gg.compile(_step)
    step(a, opt_a, x, y)
    assert all(np.array_equal(p.numpy(), q) for p, q in zip(b.parameters(), b_before))
    step(b, opt_b, x, y)
    step(a, opt_a, x, y)
    info = step.cache_info()
    assert info.traces == 2 and info.hits == 1
    assert "argument 'model' changed: the Sequential at" in info.records[1].reason
    twin = _model(1)
    _step(twin, optim.SGD(twin.parameters(), lr=0.1), x, y)
    for p, q in zip(b.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6, atol=1e-7)


def test_train_and_eval_of_a_module_argument_are_seen():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x, _ = _data()
    forward = gg.compile(lambda m, x: m(x))
    model.eval()
    np.testing.assert_allclose(forward(model, x).numpy(), model(x).numpy(), rtol=1e-6)
    model.train()
    dropped = forward(model, x).numpy()
    assert (dropped == 0).any()  # dropout is on again: the eval plan is not reused


def test_a_python_side_effect_on_a_module_argument_is_refused():
    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 1)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return self.fc(x)

    model = Counting()
    x, _ = _data()
    with pytest.raises(gg.TracingError, match=r"`m\.calls`"):
        gg.compile(lambda m, x: m(x))(model, x)
    assert model.calls == 0  # restored


def test_modules_inside_containers_and_by_keyword():
    x, y = _data()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    step = gg.compile(lambda parts, x, y: _step(parts["model"], parts["opt"], x, y))
    first = step({"model": model, "opt": opt}, x, y).item()
    second = step({"model": model, "opt": opt}, x=x, y=y).item()
    assert second < first
    twin = _model()
    twin_opt = optim.SGD(twin.parameters(), lr=0.1)
    assert first == pytest.approx(_step(twin, twin_opt, x, y).item(), rel=1e-6)
    assert second == pytest.approx(_step(twin, twin_opt, x, y).item(), rel=1e-6)
