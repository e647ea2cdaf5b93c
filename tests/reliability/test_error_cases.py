"""Every misuse of issue 10's list gets a graphgrad error naming what and where.

Oracle: the error contract (DESIGN.md "Errors", issue 10): each case raises the stated
`gg.GraphgradError` subclass, and its message names the op (or function) involved, the
shapes/dtypes where there are some, and this file's name with the line of the call that
went wrong. Each case's code sits in a one-line lambda (or a marked line), so the
expected line is computed, never written down.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.backends import registry
from graphgrad.backends.numpy_backend import NumpyBackend

FILE = "test_error_cases.py"


def expect(kind, fn, *parts, op=None, line=None):
    """Call fn; it must raise `kind` naming `parts`, `op` and fn's line of this file."""
    line = line or fn.__code__.co_firstlineno
    with pytest.raises(kind) as info:
        fn()
    err, msg = info.value, str(info.value)
    assert isinstance(err, gg.GraphgradError)
    assert f"{FILE}:{line}" in msg, msg
    if op is not None:
        assert err.op == op and op in msg, msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return err


def line_of(marker: str) -> int:
    """The line of this file holding `marker` (a comment at the end of the line under test)."""
    lines, _ = inspect.getsourcelines(inspect.getmodule(line_of))
    return next(i + 1 for i, text in enumerate(lines) if text.rstrip().endswith(marker))


# ---------------------------------------------------------------------- shapes and dtypes
def test_shape_mismatch_eager():
    a, b = gg.ones(3), gg.ones(4)
    expect(gg.ShapeError, lambda: a + b, "(3,)", "(4,)", op="add")
    expect(gg.ShapeError, lambda: gg.ones(2, 3) @ gg.ones(2, 3), "(2, 3)", op="matmul")


def test_shape_mismatch_while_tracing():
    expect(gg.ShapeError, lambda: gg.trace(lambda a, b: a + b, gg.Spec((3,)), gg.Spec((4,))),
           "(3,)", "(4,)", op="add")
    f = gg.compile(lambda a, b: a @ b)
    expect(gg.ShapeError, lambda: f(gg.ones(2, 3), gg.ones(2, 3)), "(2, 3)", op="matmul",
           line=f.fn.__code__.co_firstlineno)


def test_dtype_mismatch_eager():
    b = gg.ones(3, dtype=gg.bool)
    expect(gg.DtypeError, lambda: b - b, "bool", op="sub")
    expect(gg.DtypeError, lambda: -b, "bool", op="neg")
    expect(gg.DtypeError, lambda: gg.ones(2).to("complex64"), "complex64")


def test_dtype_mismatch_while_tracing():
    expect(gg.DtypeError, lambda: gg.trace(lambda b: b - b, gg.Spec((3,), "bool")), "bool",
           op="sub")
    f = gg.compile(lambda b: -b)
    expect(gg.DtypeError, lambda: f(gg.ones(2, dtype=gg.bool)), "bool", op="neg",
           line=f.fn.__code__.co_firstlineno)


def test_kernel_failure_in_a_compiled_plan_names_op_operands_and_line():
    f = gg.compile(lambda x, i: x[i] * 2)
    f(gg.ones(3), gg.tensor([0, 1]))
    expect(gg.ShapeError, lambda: f(gg.ones(3), gg.tensor([0, 7])), "f32[3]", "i64[2]", op="index",
           line=f.fn.__code__.co_firstlineno)


def test_bad_tensor_data_and_sizes():
    expect(gg.ShapeError, lambda: gg.tensor([[1.0, 2.0], [3.0]]), "different lengths")
    expect(gg.ShapeError, lambda: gg.zeros(2, -1), "(2, -1)")
    expect(gg.ShapeError, lambda: gg.ones(2, 3).sum(dim="rows"), "'rows'", op="sum")


def test_bad_values_never_turn_into_silent_nans_casts_or_wraparounds():
    x = gg.ones(2)
    expect(gg.DtypeError, lambda: x + None, "NoneType")  # NumPy would make it NaN
    expect(gg.DtypeError, lambda: x + 1j, "complex")  # NumPy would drop the imaginary part
    expect(gg.DtypeError, lambda: x * "a", "str")
    expect(gg.ShapeError, lambda: gg.zeros(2.5), "2.5")  # NumPy would truncate to 2
    expect(gg.ShapeError, lambda: x.reshape("a"), "'a'", op="reshape")
    expect(gg.ShapeError, lambda: x[::0], "step", op="index")
    expect(gg.ShapeError, lambda: gg.arange(0, 3, 0), "step")
    logits = gg.zeros(2, 3)  # a negative class index would wrap to the last class
    expect(gg.ShapeError, lambda: nn.CrossEntropyLoss()(logits, gg.tensor([-1, 0])), "-1",
           op="nll_loss")
    expect(gg.ShapeError, lambda: gg.one_hot(gg.tensor([-1]), 3), "-1", op="one_hot")


# ---------------------------------------------------------------------- autograd misuse
def test_requires_grad_on_an_integer_tensor():
    expect(gg.AutogradError, lambda: gg.tensor([1, 2], requires_grad=True), "i64")
    expect(gg.AutogradError, lambda: gg.zeros(3, dtype=gg.bool).requires_grad_(), "bool")


def test_backward_on_a_non_scalar_without_gradient():
    y = gg.ones(3, requires_grad=True) * 2
    expect(gg.AutogradError, lambda: y.backward(), "backward()", "(3,)", "gradient")


def test_backward_on_a_tensor_that_does_not_require_grad():
    y = gg.ones(3).sum()
    expect(gg.AutogradError, lambda: y.backward(), "backward()", "does not require grad")


def test_in_place_change_of_a_tensor_the_graph_needs():
    a = gg.ones(3, requires_grad=True)
    b = a * 2
    c = (b * b).sum()
    b.add_(1)  # b's old value is what d(c)/d(b) = 2b needs: its version moved on
    err = expect(gg.AutogradError, lambda: c.backward(), "in-place", "version", op="mul")
    assert "(3,)" in str(err)


def test_in_place_change_while_tracing_is_caught_too():
    def step(x):
        w = x * 2
        loss = (w * w).sum()
        w.mul_(3)
        loss.backward()  # backward through a changed w
        return loss

    x = gg.ones(3, requires_grad=True)
    expect(gg.AutogradError, lambda: gg.compile(step)(x), "version", op="mul",
           line=line_of("# backward through a changed w"))


# ---------------------------------------------------------------------- compiled calls
def test_compiled_function_called_with_the_wrong_arity():
    @gg.compile
    def add(x, y):
        return x + y

    err = expect(gg.SignatureError, lambda: add(gg.ones(2)), "add(x, y)", "'y'")
    assert isinstance(err, TypeError)  # what Python raises for a bad call, too
    expect(gg.SignatureError, lambda: add(gg.ones(2), gg.ones(2), gg.ones(2)), "add(x, y)")


def test_compiled_function_called_with_a_changing_python_value():
    @gg.compile
    def scale(x, k):
        return x * k

    # A Python number is part of the signature (issue 16): a new value retraces and
    # cache_info says which argument changed; the numbers are never stale.
    assert scale(gg.ones(2), 2.0).tolist() == [2.0, 2.0]
    assert scale(gg.ones(2), 3.0).tolist() == [3.0, 3.0]
    assert "argument 'k' changed: 2.0 -> 3.0" in str(scale.cache_info())
    expect(gg.SignatureError, lambda: scale(gg.ones(2), object()), "argument 'k'", "object",
           "tensors")


# ---------------------------------------------------------------------- backends
class _Unavailable(NumpyBackend):
    name = "unavailable-test"

    @classmethod
    def availability(cls):
        return False, "no such device in this test"


class _NoMatmul(NumpyBackend):
    name = "no-matmul-test"

    def __init__(self):
        super().__init__()
        del self.kernels["matmul"]


class _NoTanh(NumpyBackend):
    """No tanh kernel, and fused groups run through the base class's kernel-by-kernel path."""

    name = "no-tanh-test"
    compile_fused = gg.backends.base.Backend.compile_fused

    def __init__(self):
        super().__init__()
        del self.kernels["tanh"]


@pytest.fixture
def test_backends():
    for cls in (_Unavailable, _NoMatmul, _NoTanh):
        registry.register(cls.name, cls)
    yield
    for cls in (_Unavailable, _NoMatmul, _NoTanh):
        for table in (registry._factories, registry._instances, registry._failures):
            table.pop(cls.name, None)


def test_unknown_backend(test_backends):
    expect(gg.BackendError, lambda: gg.compile(lambda x: x, backend="nope"), "'nope'", "numpy")
    expect(gg.BackendError, lambda: gg.ones(2).to("nope"), "'nope'", "numpy")
    expect(gg.BackendError, lambda: gg.set_default_backend("nope"), "'nope'")


def test_unavailable_backend_says_why(test_backends):
    expect(gg.BackendError, lambda: gg.ones(2).to("unavailable-test"), "unavailable-test",
           "no such device in this test", "numpy")
    assert "unavailable-test" not in gg.backends.available()


def test_backend_missing_a_kernel_eager_and_compiled(test_backends):
    a = gg.ones(2, 2).to("no-matmul-test")
    expect(gg.BackendError, lambda: a @ a, "no-matmul-test", op="matmul")
    f = gg.compile(lambda x: (x @ x).sum(), backend="no-matmul-test")
    expect(gg.BackendError, lambda: f(a), "no-matmul-test", op="matmul",
           line=f.fn.__code__.co_firstlineno)


def test_backend_missing_a_kernel_inside_a_fused_group(test_backends):
    x = gg.ones(4).to("no-tanh-test")
    expect(gg.BackendError, lambda: gg.tanh(x), "no-tanh-test", op="tanh")
    f = gg.compile(lambda x: gg.tanh(x) * 2 + 1, backend="no-tanh-test")
    err = expect(gg.BackendError, lambda: f(x), "no-tanh-test", "fused", op="tanh",
                 line=f.fn.__code__.co_firstlineno)
    assert "'tanh'" in str(err)


# ---------------------------------------------------------------------- state dicts
def _model():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_load_state_dict_mismatches():
    model, good = _model(), _model().state_dict()
    missing = {k: v for k, v in good.items() if k != "2.bias"}
    extra = {**good, "3.weight": gg.ones(1)}
    wrong = {**good, "0.weight": gg.ones(4, 4)}
    for bad, part in ((missing, '"2.bias"'), (extra, '"3.weight"'), (wrong, "(4, 4)")):
        expect(gg.SerializationError, lambda bad=bad: model.load_state_dict(bad), part,
               "Sequential", op="load_state_dict")
    expect(gg.SerializationError, lambda: model.load_state_dict({**good, "0.bias": "x"}),
           "0.bias", "str", op="load_state_dict")
    expect(gg.SerializationError, lambda: model.load_state_dict([1, 2]), "list",
           op="load_state_dict")


def test_optimizer_load_state_dict_mismatches():
    model = _model()
    opt = optim.Adam(model.parameters())
    expect(gg.SerializationError, lambda: opt.load_state_dict({"x": 1}), "param_groups",
           op="load_state_dict")
    other = optim.Adam(nn.Linear(3, 4).parameters()).state_dict()
    other["param_groups"].append(dict(other["param_groups"][0]))
    expect(gg.SerializationError, lambda: opt.load_state_dict(other), "parameter groups",
           op="load_state_dict")


def test_a_good_checkpoint_still_loads(tmp_path):
    model, other = _model(), _model()
    gg.save(other.state_dict(), tmp_path / "ok.npz")
    model.load_state_dict(gg.load(tmp_path / "ok.npz"))
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
