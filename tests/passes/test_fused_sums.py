"""Full sums fused into the program that computes what they sum (`fused_reductions`).

A loss `f(x).sum()` over a large elementwise expression: on the NumPy backend the sum
becomes the fused program's last step, reduced chunk by chunk, so the summed array is
never written out. Oracles: float64 NumPy written by hand, the unfused pipeline, and
the same program with one thread against two (identical numbers: partial sums are
added in chunk order). A summed array read elsewhere too stays an output; sums that
must stay outside (a group reading its own sum, keepdims, partial axes, integer sums,
backends that do not say they reduce) are checked to stay outside and give the same
numbers.
"""

import numpy as np
import pytest
from cupy_emulation import fixtures

import graphgrad as gg
from graphgrad.backends import get_backend, numpy_fusion
from graphgrad.backends.numpy_fusion import CHUNK
from graphgrad.ir.fused import FusedProgram, Step
from graphgrad.passes import PassContext, run_passes

emulated_cupy = fixtures.emulated_cupy


def _programs(graph):
    return [graph[n]["attrs"]["program"] for n in graph.nx if graph[n]["op"] == "fused"]


def _optimized(fn, *specs, backend="numpy"):
    graph = gg.differentiate(gg.trace(fn, *specs))
    out, _ = run_passes(graph, ["fusion", "memory"], PassContext(backend=get_backend(backend)))
    out.verify()
    return graph, out


def _loss(x):
    return (gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x).sum()


def _truth(x):
    t, s = np.tanh(0.5 * x), 1 / (1 + np.exp(-x))
    return (t * s + 0.1 * x * x).sum(), 0.5 * (1 - t * t) * s + t * s * (1 - s) + 0.2 * x


@pytest.mark.parametrize("n", [1000, 2 * CHUNK + 12345])
def test_a_loss_sum_is_the_last_step_of_its_terms_program_and_matches_float64(
        monkeypatch, n):
    raw, fused = _optimized(_loss, gg.Spec((n,), "float32"))
    assert [p.op_names[-1] for p in _programs(fused)] == ["sum"]
    assert not [n_ for n_ in fused.nx if fused[n_]["op"] == "sum"]
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    value, grad = _truth(x.astype(np.float64))
    results = {}
    for threads in (1, 2):
        monkeypatch.setattr(numpy_fusion, "_threads", lambda t=threads: t)
        get_backend("numpy")._fused_cache.clear()
        got = [t.numpy() for t in gg.run_graph(fused, x)]
        np.testing.assert_allclose(got[0], value, rtol=2e-6)
        np.testing.assert_allclose(got[1], grad, rtol=1e-5, atol=1e-6)
        assert got[0].shape == () and got[0].dtype == np.float32
        results[threads] = got[0]
    assert results[1] == results[2]  # chunk order, not thread timing, fixes the sum
    unfused = [t.numpy() for t in gg.run_graph(raw, x)]
    np.testing.assert_allclose(results[1], unfused[0], rtol=2e-6)


@pytest.mark.parametrize("layout", ["rows", "strided"])
def test_sums_over_all_axes_of_row_and_strided_chunks(monkeypatch, layout):
    """A sum over every axis named one by one, of a program chunked by rows (a bias
    operand) or along the leading axis of a transposed input."""
    monkeypatch.setattr(numpy_fusion, "_threads", lambda: 2)
    rows, width = 2 * CHUNK // 96 + 5, 96

    def f(x, b):
        return gg.tanh(x + b).sum(dim=(0, 1))

    _, fused = _optimized(f, gg.Spec((rows, width), "float64"), gg.Spec((width,), "float64"))
    (program,) = [p for p in _programs(fused) if "sum" in p.op_names]
    assert numpy_fusion._row_width(program) == width
    rng = np.random.default_rng(1)
    x = rng.standard_normal((rows, width))
    if layout == "strided":
        x = np.ascontiguousarray(x.T).T  # Fortran order: neither flat nor rows of C
    b = rng.standard_normal(width)
    got = gg.run_graph(fused, x, b)
    np.testing.assert_allclose(got[0].numpy(), np.tanh(x + b).sum(), rtol=1e-12)
    np.testing.assert_allclose(got[1].numpy(), 1 - np.tanh(x + b) ** 2, rtol=1e-12)


def test_a_group_that_reads_its_own_sum_keeps_the_sum_outside():
    def f(x):
        e = gg.exp(x)
        return e / e.sum()  # the division is elementwise and needs the sum first

    graph = gg.trace(f, gg.Spec((50,), "float64"))
    out, _ = run_passes(graph, ["fusion"], PassContext(backend=get_backend("numpy")))
    out.verify()
    assert all("sum" not in p.op_names for p in _programs(out))
    x = np.linspace(-1, 1, 50)
    np.testing.assert_allclose(gg.run_graph(out, x)[0].numpy(), np.exp(x) / np.exp(x).sum(),
                               rtol=1e-12)


@pytest.mark.parametrize("case", ["returned", "read_by_matmul"])
def test_a_summed_array_read_elsewhere_too_stays_an_output(case):
    """The sum still joins the program that computes the array (no second read of it for
    the sum); the array stays an output for its other reader."""
    def f(x):
        terms = x * x + 1.0
        if case == "returned":
            return terms.sum(), terms
        return terms.sum() * (terms @ x.T).sum()

    graph = gg.trace(f, gg.Spec((40, 30), "float64"))
    out, _ = run_passes(graph, ["fusion"], PassContext(backend=get_backend("numpy")))
    out.verify()
    (program,) = [p for p in _programs(out) if "sum" in p.op_names]
    assert len(program.outputs) == 2  # the sum and the array
    x = np.random.default_rng(2).standard_normal((40, 30))
    for want, got in zip(gg.run_graph(graph, x), gg.run_graph(out, x)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("case", ["keepdims", "partial_axes", "integers"])
def test_sums_that_stay_outside(case):
    def f(x):
        terms = x * x + 1.0
        if case == "keepdims":
            return terms.sum(dim=(0, 1), keepdim=True)
        if case == "partial_axes":
            return terms.sum(dim=0)
        return (terms > 1.5).sum()  # bools sum as int64: a cast, not the same dtype

    graph = gg.trace(f, gg.Spec((40, 30), "float64"))
    out, _ = run_passes(graph, ["fusion"], PassContext(backend=get_backend("numpy")))
    out.verify()
    assert all("sum" not in p.op_names for p in _programs(out))
    x = np.random.default_rng(2).standard_normal((40, 30))
    for want, got in zip(gg.run_graph(graph, x), gg.run_graph(out, x)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def _compiled_value_and_grad(backend, x0):
    def step(x):
        x.grad = None
        y = _loss(x)
        y.backward()
        return y

    fn = gg.compile(step, backend=backend)
    x = gg.tensor(x0, requires_grad=True, device=backend)
    y = fn(x)
    return fn, float(y.item()), x.grad.numpy()


def test_backends_that_do_not_say_they_reduce_get_no_sum_steps(emulated_cupy):
    """Numba's and CuPy's fused compilers have no reduction: the sum stays a kernel of
    its own there, with the same numbers as NumPy's fused sum."""
    x0 = np.random.default_rng(3).standard_normal(2 * CHUNK + 7).astype(np.float32)
    _, value, grad = _compiled_value_and_grad("numpy", x0)
    assert value == pytest.approx(_truth(x0.astype(np.float64))[0], rel=2e-6)
    for backend in ("numba", emulated_cupy):
        if backend == "numba":
            pytest.importorskip("numba")
        assert not get_backend(backend).fused_reductions
        fn, v, g = _compiled_value_and_grad(backend, x0)
        assert "sum]" not in fn.source
        assert v == pytest.approx(value, rel=2e-6)
        np.testing.assert_allclose(g, grad, rtol=1e-5, atol=1e-6)


def test_sums_of_groups_of_different_shapes_and_of_singles():
    """Three sums: of a chain, of a lone large op, of a broadcasting product; added up
    after. Each joins its own group; the numbers are the unfused graph's."""
    def f(a, b):
        s = gg.tanh(a) * 2.0
        return (s * s).sum(), gg.tanh(b).sum() + (b * a).sum()

    n = 2 * CHUNK + 11
    raw = gg.trace(f, gg.Spec((n,), "float32"), gg.Spec((3, n), "float32"))
    fused, _ = run_passes(raw, ["fusion", "memory"], PassContext(backend=get_backend("numpy")))
    fused.verify()
    assert sorted(p.op_names for p in _programs(fused)) == [
        ["mul", "sum"], ["tanh", "mul", "mul", "sum"], ["tanh", "sum"]]
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal((3, n)).astype(np.float32)
    for want, got in zip(gg.run_graph(raw, a, b), gg.run_graph(fused, a, b)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    np.testing.assert_allclose(gg.run_graph(fused, a, b)[1].numpy(),
                               np.tanh(b64).sum() + (b64 * a64).sum(), rtol=1e-4)


def _fused_source(graph):
    (program,) = [p for p in _programs(graph) if "sum" in p.op_names]
    kernels = get_backend("numpy").kernels
    return program, numpy_fusion.compile_program(program, kernels).source


@pytest.mark.parametrize("shape", [(11,), (7, 5), (3000,)])
def test_small_sums_of_one_shape_share_one_reduction_each_exactly(shape):
    """A scalar fit's loss and gradients: three full sums of small arrays of one shape.
    Unchunked, they are written into the rows of one stack and summed by one call; each
    equals, bit for bit, the unfused graph's sum of that array alone. The mean's 1/n
    joins the program as scalar arithmetic."""
    def f(w, x, y):
        r = w * x - y
        return (r * r).mean(), (2.0 * r).sum(), (2.0 * r * x).sum()

    raw = gg.trace(f, gg.Spec((), "float32"), gg.Spec(shape, "float32"), gg.Spec(shape, "float32"))
    fused, _ = run_passes(raw, ["cse", "fusion", "memory"],
                          PassContext(backend=get_backend("numpy")))
    fused.verify()
    program, source = _fused_source(fused)
    assert source.count("u_add.reduce(") == 1 and "stack" in source
    assert program.op_names[-4:] == ["sum", "mul", "sum", "sum"]  # mean: sum, then * 1/n
    assert not [n for n in fused.nx if fused[n]["op"] in ("sum", "mul")]
    rng = np.random.default_rng(5)
    args = [np.float32(0.7), *(rng.standard_normal(shape).astype(np.float32) for _ in "xy")]
    for want, got in zip(gg.run_graph(raw, *args), gg.run_graph(fused, *args)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.numpy().dtype == np.float32 and got.shape == ()


def test_a_summed_array_made_after_the_first_sum_or_returned_keeps_its_own_reduction():
    """Only arrays made before the first stacked sum (the reduction runs there), and not
    outputs of the program, go in the stack."""
    f64, shape = np.dtype("float64"), (9,)
    steps = (Step("mul", (0, 0), {}, shape, f64),    # r1 = x * x
             Step("tanh", (0,), {}, shape, f64),     # r2
             Step("neg", (0,), {}, shape, f64),      # r3, returned too
             Step("sum", (1,), {}, (), f64),         # r4 = sum(r1): the first sum
             Step("mul", (0, 4), {}, shape, f64),    # r5 = x * r4: made after it
             Step("sum", (5,), {}, (), f64),         # r6
             Step("sum", (2,), {}, (), f64),         # r7
             Step("sum", (3,), {}, (), f64))         # r8
    program = FusedProgram(((shape, f64),), steps, (3, 4, 6, 7, 8))
    assert numpy_fusion._stacked_sums(program) == {1: 0, 2: 1}
    fn = numpy_fusion.compile_program(program, get_backend("numpy").kernels)
    assert fn.source.count("u_add.reduce(") == 3
    x = np.linspace(-2, 2, 9)
    s1 = np.add.reduce(x * x, None)
    want = [-x, s1, np.add.reduce(x * s1, None), np.add.reduce(np.tanh(x), None),
            np.add.reduce(-x, None)]
    for w, g in zip(want, fn(x)):
        np.testing.assert_array_equal(g, w)


def test_an_array_summed_twice_gets_both_sums_from_the_stack():
    """Without cse, one array may be summed by two steps (found by the pipeline
    property test): both take their value from the one reduction."""
    f32, shape = np.dtype("float32"), (5,)
    steps = (Step("mul", (0, 0), {}, shape, f32), Step("tanh", (0,), {}, shape, f32),
             Step("sum", (1,), {}, (), f32), Step("sum", (2,), {}, (), f32),
             Step("sum", (1,), {}, (), f32))
    program = FusedProgram(((shape, f32),), steps, (3, 4, 5))
    fn = numpy_fusion.compile_program(program, get_backend("numpy").kernels)
    assert fn.source.count("u_add.reduce(") == 1
    x = np.linspace(-1, 1, 5, dtype=np.float32)
    s = np.add.reduce(x * x, None)
    for w, g in zip([s, np.add.reduce(np.tanh(x), None), s], fn(x)):
        np.testing.assert_array_equal(g, w)
