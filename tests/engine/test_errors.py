"""Bad input gets a graphgrad error naming the op, the shapes and the user's file:line.

Oracle: the message contract of issue 2 / DESIGN.md "Errors": each case below must raise
a `gg.GraphgradError` subclass whose message contains the op name, the offending shapes
and this file's name with the calling line, eagerly and while tracing alike.
"""

import inspect

import pytest

import graphgrad as gg

CASES = [
    ("matmul", lambda a, b: a @ b, [(3, 4), (5, 6)], ["(3, 4)", "(5, 6)"]),
    ("add", lambda a, b: a + b, [(3,), (4,)], ["(3,)", "(4,)"]),
    ("mul", lambda a, b: a * b, [(2, 3), (3, 2)], ["(2, 3)", "(3, 2)"]),
    ("reshape", lambda a: a.reshape(5, 2), [(3, 3)], ["(3, 3)", "(5, 2)"]),
    ("sum", lambda a: a.sum(dim=2), [(3, 3)], ["dim 2", "2-d"]),
    ("cat", lambda a, b: gg.cat([a, b], dim=0), [(2, 3), (2, 4)], ["(2, 3)", "(2, 4)"]),
    ("index", lambda a: a[5], [(3,)], ["(3,)", "5"]),
    ("broadcast_to", lambda a: a.expand(2, 4), [(3,)], ["(3,)", "(2, 4)"]),
    ("permute", lambda a: a.permute(0, 0), [(2, 3)], ["(0, 0)", "(2, 3)"]),
]


def _check(err, op, parts):
    message = str(err.value)
    assert isinstance(err.value, gg.GraphgradError)
    assert err.value.op == op
    assert op in message
    for part in parts:
        assert part in message
    assert "test_errors.py:" in message


@pytest.mark.parametrize("op, fn, shapes, parts", CASES, ids=[c[0] for c in CASES])
def test_eager_errors_name_op_shapes_and_line(op, fn, shapes, parts):
    with pytest.raises(gg.GraphgradError) as err:
        fn(*[gg.ones(s) for s in shapes])
    _check(err, op, parts)


@pytest.mark.parametrize("op, fn, shapes, parts", CASES, ids=[c[0] for c in CASES])
def test_tracing_errors_name_op_shapes_and_line(op, fn, shapes, parts):
    with pytest.raises(gg.GraphgradError) as err:
        gg.trace(fn, *[gg.Spec(s) for s in shapes])
    _check(err, op, parts)


def test_the_line_is_the_callers_line():
    a, b = gg.ones(3, 4), gg.ones(5, 6)
    line = inspect.currentframe().f_lineno + 2
    with pytest.raises(gg.ShapeError, match=rf"test_errors\.py:{line}\b"):
        a @ b


def test_python_control_flow_on_a_traced_value_says_why():
    def fn(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(gg.TracingError, match="symbolic.*gg.where"):
        gg.trace(fn, gg.Spec((3,)))


def test_requires_grad_and_backward_misuse():
    with pytest.raises(gg.AutogradError, match=r"test_errors\.py:\d+"):
        gg.ones(3).sum().backward()
    with pytest.raises(gg.AutogradError, match=r"floating-point.*test_errors\.py:\d+"):
        gg.tensor([1, 2]).requires_grad_()
