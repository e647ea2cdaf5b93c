"""`gg.detect_anomaly()` stops at the first op that makes a NaN or an Inf, and says where.

Oracles: hand-built programs whose first non-finite value comes from a known op on a known
line of this file (log of a negative number, the derivative of sqrt at 0, an update that
divides by zero); the error must name that op, its inputs' ranges and that line, for
eager code and for the same code under `gg.compile`, in the forward graph, the backward
graph and the optimizer update. Outside the block nothing is checked (NaN flows on) and
compiled functions run their optimized plans, which contain no checks.
"""

from __future__ import annotations

import contextlib
import inspect

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim

FILE = "test_anomaly.py"
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's own NaN notes


def line_of(marker: str) -> str:
    lines, _ = inspect.getsourcelines(inspect.getmodule(line_of))
    return f"{FILE}:{next(i + 1 for i, t in enumerate(lines) if t.rstrip().endswith(marker))}"


def forward_nan(x):
    a = x * 2.0
    b = gg.log(a - 2.0)  # first NaN: log of a negative number
    return (b * 3.0).sum()


def backward_inf(x):
    y = gg.sqrt(x)  # sqrt(0) is fine, its derivative is not
    return y.sum()


def test_eager_forward_names_the_first_bad_op_its_inputs_and_line():
    x = gg.tensor([0.5, 1.0, 2.0])
    with gg.detect_anomaly(), pytest.raises(gg.NumericalError) as err:
        forward_nan(x)
    msg = str(err.value)
    assert err.value.op == "log" and "`log`" in msg
    assert err.value.source == line_of("# first NaN: log of a negative number")
    assert "1 NaN" in msg and "1 -Inf" in msg  # log(-1) and log(0)
    assert "f32[3] in [-1, 2]" in msg  # the range of log's input, a - 2


def test_without_the_mode_nan_flows_on_silently():
    with np.errstate(all="ignore"):
        loss = forward_nan(gg.tensor([0.5, 1.5, 2.0]))
    assert np.isnan(loss.item())
    assert not gg.is_anomaly_enabled()


def test_eager_backward_names_the_forward_op_whose_gradient_broke():
    x = gg.tensor([0.0, 1.0, 4.0], requires_grad=True)
    with gg.detect_anomaly():
        loss = backward_inf(x)
        with pytest.raises(gg.NumericalError) as err:
            loss.backward()  # the backward call
    msg = str(err.value)
    assert "backward pass" in msg and "gradient of `sqrt`" in msg and "+Inf" in msg
    assert err.value.source == line_of("# sqrt(0) is fine, its derivative is not")
    assert line_of("# the backward call") in msg
    assert err.value.op in gg.ops.REGISTRY


def test_check_inf_false_stops_at_nan_only():
    with gg.detect_anomaly(check_inf=False):
        assert gg.log(gg.tensor([0.0])).item() == -np.inf
        with pytest.raises(gg.NumericalError, match="NaN"):
            gg.sqrt(gg.tensor([-1.0]))


def test_the_mode_nests_and_works_as_a_decorator():
    @gg.detect_anomaly()
    def inner():
        assert gg.is_anomaly_enabled()
        return gg.log(gg.tensor([-1.0]))

    with gg.detect_anomaly():
        with pytest.raises(gg.NumericalError):
            inner()
        assert gg.is_anomaly_enabled()
    assert not gg.is_anomaly_enabled()


# ---------------------------------------------------------------------- compiled
def _train_step(loss_of):
    gg.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = loss_of(model(x))
        loss.backward()
        opt.step()
        return loss

    return model, step


def _compiled_error(loss_of, x):
    model, step = _train_step(loss_of)
    compiled = gg.compile(step)
    with np.errstate(all="ignore"):
        compiled(x)  # traced and run outside the mode: no checks, no error
    before = [p.numpy().copy() for p in model.parameters()]
    with gg.detect_anomaly(), pytest.raises(gg.NumericalError) as err:
        compiled(x)
    for p, b in zip(model.parameters(), before):  # the failed step wrote no state
        np.testing.assert_array_equal(p.numpy(), b)
    return compiled, err.value


def test_compiled_forward_names_op_inputs_and_line():
    x = gg.tensor([[1.0, 2.0, 3.0], [-4.0, 0.5, 1.0]])
    compiled, err = _compiled_error(lambda out: forward_nan(out), x)
    msg = str(err)
    assert err.op == "log" and "forward graph of compiled `step`" in msg
    assert err.source == line_of("# first NaN: log of a negative number")
    assert "input 0: f32[2, 1] in [" in msg
    assert "check_finite" in compiled.last.checked.source
    assert "check_finite" not in compiled.last.source  # the normal plan has no checks


def test_compiled_backward_names_the_forward_op_and_its_line():
    x = gg.zeros(2, 3)  # model(x) = bias; relu makes it 0, where sqrt has no derivative
    compiled, err = _compiled_error(lambda out: backward_inf(gg.relu(out * 0.0)), x)
    msg = str(err)
    assert "backward graph of compiled `step`" in msg and "gradient of `sqrt`" in msg
    assert err.source == line_of("# sqrt(0) is fine, its derivative is not")


def test_compiled_update_phase():
    gg.manual_seed(0)
    w = gg.ones(3, requires_grad=True)

    @gg.compile
    def step(x, scale):
        loss = (w * x).sum()
        loss.backward()
        with gg.no_grad():
            w.sub_(w.grad / scale)  # divides by zero when scale is 0
            w.grad = None
        return loss

    with gg.detect_anomaly(), pytest.raises(gg.NumericalError) as err:
        step(gg.ones(3), gg.tensor(0.0))
    assert "update graph" in str(err.value) and err.value.op == "div"
    assert err.value.source == line_of("# divides by zero when scale is 0")
    np.testing.assert_array_equal(w.numpy(), np.ones(3))


def test_eager_and_compiled_blame_the_same_op_and_line():
    def fn(x):
        return forward_nan(gg.tanh(x) * 4.0)

    x = gg.tensor([0.1, -0.2, 0.9])
    with gg.detect_anomaly():
        with pytest.raises(gg.NumericalError) as eager:
            fn(x)
        with pytest.raises(gg.NumericalError) as compiled:
            gg.compile(fn)(x)
    assert (eager.value.op, eager.value.source) == (compiled.value.op, compiled.value.source)


def test_finite_steps_give_the_same_numbers_with_and_without_the_mode():
    results = []
    for checked in (False, True):
        model, step = _train_step(lambda out: (out * out).mean())
        compiled = gg.compile(step)
        x = gg.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
        with gg.detect_anomaly() if checked else contextlib.nullcontext():
            losses = [compiled(x).item() for _ in range(3)]
        results.append((losses, [p.numpy().copy() for p in model.parameters()]))
    (plain, params), (checked, checked_params) = results
    np.testing.assert_allclose(checked, plain, rtol=1e-6)
    for a, b in zip(checked_params, params):
        np.testing.assert_allclose(a, b, rtol=1e-6)
