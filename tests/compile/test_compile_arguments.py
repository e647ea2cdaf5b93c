"""A compiled function takes its arguments as the eager function does.

Oracles: the same function run eagerly (values, and the caller's tensors after
in-place changes), hand-derived values (`x * 2.5 + c2` with c2 = 10 is 12.5), and the
seed tutorial's training loop run eagerly.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg


def test_an_argument_named_like_a_plan_constant_keeps_its_value():
    @gg.compile
    def f(x, c2):
        return x * 2.5 + c2

    assert f(gg.ones(()), 10).item() == 12.5
    assert f(gg.ones(()), gg.tensor(10.0)).item() == 12.5


def test_arguments_named_like_kernels():
    @gg.compile
    def f(mul, sum, dtype):
        return mul * sum + mul.sum() + dtype

    np.testing.assert_array_equal(f(gg.ones(2), gg.full((2,), 3.0), gg.ones(2)).numpy(),
                                  [6.0, 6.0])


@pytest.mark.parametrize("name", ["add", "sum", "mul", "plan", "v3", "copy"])
def test_a_compiled_function_named_like_a_kernel(name):
    namespace: dict = {}
    exec(f"def {name}(x, y):\n    return (x + y).sum() * 2\n", namespace)  # noqa: S102
    assert gg.compile(namespace[name])(gg.ones(2), gg.ones(2)).item() == 8.0


def test_compiling_an_op_function():
    np.testing.assert_allclose(gg.compile(gg.exp)(gg.zeros(3)).numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(gg.compile(gg.exp)(gg.ones(3)).numpy(), np.exp(np.ones(3)),
                               rtol=1e-6)


IN_PLACE = {
    "add_": lambda x, y: x.add_(1),
    "setitem": lambda x, y: x.__setitem__(0, 5.0),
    "copy_": lambda x, y: x.copy_(y),
    "zero_": lambda x, y: x.zero_(),
    "data": lambda x, y: setattr(x, "data", y * 2),
    "iadd": lambda x, y: x.__iadd__(y),
}


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_in_place_changes_to_an_argument_reach_the_caller(name):
    def f(x, y):
        IN_PLACE[name](x, y)
        return (x * 1.0).sum()

    compiled = gg.compile(f)
    for _ in range(2):  # the traced call and a cached one
        xe, xc = gg.arange(3, dtype=gg.float32), gg.arange(3, dtype=gg.float32)
        version = xc._version
        y = gg.full((3,), 7.0)
        assert compiled(xc, y).item() == f(xe, y).item()
        np.testing.assert_array_equal(xc.numpy(), xe.numpy())
        assert xc._version > version


def test_the_seed_tutorial_loop_with_params_as_an_argument():
    t_u = gg.tensor([35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4])
    t_c = gg.tensor([0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0])

    def step(params, t_u, t_c):
        if params.grad is not None:
            params.grad.zero_()
        loss = ((params[0] * t_u * 0.1 + params[1] - t_c) ** 2).mean()
        loss.backward()
        with gg.no_grad():
            params -= 1e-2 * params.grad
        return loss

    runs = []
    for fn in (step, gg.compile(step)):
        params = gg.tensor([1.0, 0.0], requires_grad=True)
        losses = [fn(params, t_u, t_c).item() for _ in range(20)]
        runs.append((losses, params.numpy().copy()))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-5)
    np.testing.assert_allclose(runs[1][1], runs[0][1], rtol=1e-5)


def test_nested_lists_tuples_dicts_and_keywords():
    def f(xs, table, *, scale=1.0, bias=None):
        out = xs[0] * table["a"] * scale + xs[1][0]
        return out if bias is None else (out + bias, {"sum": out.sum()})

    compiled = gg.compile(f)
    args = ([gg.ones(2), (gg.full((2,), 2.0),)], {"a": gg.full((2,), 3.0)})
    for kw in ({"scale": 2.0}, {"scale": 2.0}, {"scale": 3.0},
               {"scale": 3.0, "bias": gg.ones(2)}):
        want, got = f(*args, **kw), compiled(*args, **kw)
        if isinstance(want, tuple):
            np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
            assert got[1]["sum"].item() == want[1]["sum"].item()
        else:
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    info = compiled.cache_info()
    assert info.traces == 3 and info.hits == 1
    assert "argument 'scale' changed: 2.0 -> 3.0" in info.records[1].reason


def test_a_changed_tensor_inside_a_list_is_named_in_cache_info():
    f = gg.compile(lambda xs: xs[0] + xs[1])
    f([gg.ones(2), gg.ones(2)])
    f([gg.ones(3), gg.ones(3)])
    assert "argument 'xs[0]' changed: f32[2] -> f32[3]" in f.cache_info().records[-1].reason


def test_an_argument_of_another_kind_is_a_clear_error():
    f = gg.compile(lambda x, opts: x * 2)
    with pytest.raises(gg.SignatureError, match="argument 'opts' of a compiled function is "
                                                 "an object"):
        f(gg.ones(2), object())
    with pytest.raises(gg.SignatureError, match=r"argument 'opts\[1\]'"):
        f(gg.ones(2), [1, {2}])


def test_numpy_array_arguments_get_in_place_changes_too():
    def f(x):
        x.mul_(2)
        return x.sum()

    arr = np.arange(3, dtype=np.float32)
    assert gg.compile(f)(arr).item() == 6.0
    np.testing.assert_array_equal(arr, [0.0, 2.0, 4.0])


def _add_one(x, *rest):
    x.add_(1.0)
    return (x * (rest[0] if rest else 1.0)).sum()


def test_an_in_place_write_to_a_view_argument_reaches_its_base_as_eagerly():
    """Finding: the write-back rebound the view's array, so the base (and a NumPy array
    the user held of it) never saw the compiled step's write."""
    results = []
    for fn in (_add_one, gg.compile(_add_one)):
        base = gg.zeros(4)
        seen = base.numpy()
        view = base[1:3]
        fn(view)
        fn(view)
        results.append((base.numpy().copy(), view.numpy().copy(), seen.copy()))
    for want, got in zip(*results):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("args", [lambda b: (b, b), lambda b: (b[:3], b[1:])])
def test_arguments_sharing_memory_with_one_written_in_place_are_refused(args):
    """Eagerly the write shows through the other argument; the plan reads them as two
    inputs. A clear error instead of a silently different result."""
    fn = gg.compile(_add_one)
    with pytest.raises(gg.TracingError, match="shares memory"):
        fn(*args(gg.ones(4)))
    fn(gg.ones(3), gg.ones(3))  # separate tensors are fine
