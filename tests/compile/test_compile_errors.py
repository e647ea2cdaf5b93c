"""Errors while tracing and running compiled steps speak the user's terms (op, shapes, line)."""

import numpy as np
import pytest

import graphgrad as gg


def _line_of(text):
    import inspect

    src, start = inspect.getsourcelines(inspect.currentframe().f_back.f_code)
    for i, line in enumerate(src):
        if text in line:
            return start + i
    raise AssertionError(text)


def test_python_if_on_a_symbolic_value_says_what_to_do():
    @gg.compile
    def f(x):
        if x.sum() > 0:  # line under test
            return x
        return -x

    with pytest.raises(gg.TracingError) as e:
        f(gg.ones(3))
    msg = str(e.value)
    assert "symbolic" in msg and "gg.where" in msg
    assert f"test_compile_errors.py:{_line_of('line under test')}" in msg


@pytest.mark.parametrize("read", ["item", "numpy", "float"])
def test_reading_a_value_while_tracing_is_refused(read):
    @gg.compile
    def f(x):
        y = x * 2
        return {"item": y.sum().item, "numpy": y.numpy, "float": lambda: float(y.sum())}[read]()

    with pytest.raises(gg.TracingError, match="symbolic"):
        f(gg.ones(3))


def test_shape_mismatch_while_tracing_names_op_shapes_and_line():
    @gg.compile
    def f(a, b):
        return a @ b  # bad matmul

    with pytest.raises(gg.ShapeError) as e:
        f(gg.ones(3, 4), gg.ones(5, 6))
    msg = str(e.value)
    assert "matmul" in msg and "(3, 4)" in msg and "(5, 6)" in msg
    assert f"test_compile_errors.py:{_line_of('bad matmul')}" in msg


def test_changing_python_argument_retraces_and_says_which():
    """A Python number is a constant of the plan (as torch.compile specializes on it): a
    new value traces again and gives eager's result, and cache_info names the argument."""
    @gg.compile
    def f(x, scale):
        return x * scale

    f(gg.ones(2), 2.0)
    f(gg.ones(2), 2.0)
    np.testing.assert_array_equal(f(gg.ones(2), 3.0).numpy(), [3.0, 3.0])
    info = f.cache_info()
    assert info.traces == 2 and "argument 'scale' changed: 2.0 -> 3.0" in info.records[-1].reason


def test_unknown_backend_lists_available_ones():
    with pytest.raises(gg.BackendError, match="available backends: .*numpy"):
        gg.compile(lambda x: x, backend="no-such-backend")


def test_kernel_failure_at_run_time_names_op_and_user_line():
    idx = gg.tensor([0, 1])

    @gg.compile
    def f(x, i):
        return x[i] * 2  # gather here

    f(gg.ones(3), idx)
    with pytest.raises(gg.GraphgradError) as e:
        f(gg.ones(3), gg.tensor([0, 7]))  # out of range only at run time
    msg = str(e.value)
    assert "index" in msg and f"test_compile_errors.py:{_line_of('gather here')}" in msg


def test_wrong_arity_is_a_clear_error():
    f = gg.compile(lambda x, y: x + y)
    with pytest.raises(TypeError):
        f(gg.ones(2))
    np.testing.assert_allclose(f(gg.ones(2), gg.ones(2)).numpy(), [2.0, 2.0])
