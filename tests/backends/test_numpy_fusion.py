"""The NumPy backend's fused-program compiler: buffer reuse, `out=` aliasing, and the
chunked, threaded path for large arrays. Oracle: the same graph run unfused by the
reference interpreter (float64), and hand-computed values."""

import types

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad.backends import numpy_fusion
from graphgrad.backends.numpy_fusion import CHUNK
from graphgrad.passes import run_passes


def _f(x):
    return (gg.tanh(0.5 * x) * gg.sigmoid(x) + 0.1 * x * x).sum()


def _fused_graph(n, dtype="float64"):
    g = gg.differentiate(gg.trace(_f, gg.Spec((n,), dtype)))  # outputs: f(x), f'(x)
    fused, _ = run_passes(g, ["fusion", "memory"])
    return g, fused


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [2 * CHUNK + 12345, 1000])
def test_large_groups_run_in_chunks_and_match_unfused(monkeypatch, n, threads):
    monkeypatch.setattr(numpy_fusion, "_threads", lambda: threads)
    raw, fused = _fused_graph(n)
    x = np.random.default_rng(0).standard_normal(n)
    numpy_fusion_backend = gg.backends.get_backend("numpy")
    numpy_fusion_backend._fused_cache.clear()
    expected = [t.numpy() for t in gg.run_graph(raw, x)]
    got = [t.numpy() for t in gg.run_graph(fused, x)]
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    t = np.tanh(0.5 * x)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(got[1], 0.5 * (1 - t * t) * s + t * s * (1 - s) + 0.2 * x,
                               rtol=1e-10, atol=1e-14)


def test_out_buffer_that_aliases_a_still_needed_input_is_not_used():
    """Output 0 may be handed the buffer of input 0, which later steps still read."""
    from graphgrad.ir.fused import FusedProgram, Step

    f64 = np.dtype("float64")
    shape = (2 * CHUNK + 7,)
    prog = FusedProgram(((shape, f64),), (Step("mul", (0, 0), {}, shape, f64),
                                          Step("add", (0, 1), {}, shape, f64)), (1, 2))
    kernels = gg.backends.get_backend("numpy").kernels
    for n in (shape[0], 5):
        p = prog if n == shape[0] else FusedProgram((((n,), f64),), tuple(
            Step(s.op, s.args, {}, (n,), f64) for s in prog.steps), (1, 2))
        fn = numpy_fusion.compile_program(p, kernels)
        x = np.arange(float(n))
        square, total = fn(x, out=(x, None))
        np.testing.assert_allclose(square, np.arange(float(n)) ** 2)
        np.testing.assert_allclose(total, np.arange(float(n)) + np.arange(float(n)) ** 2)


def _sgd_program(shapes, dtype):
    """p_k - lr * g_k for parameters of several shapes, welded by the shared 0-d lr (as
    the fusion pass welds SGD's updates): inputs lr, then (p_k, g_k) pairs."""
    from graphgrad.ir.fused import FusedProgram, Step

    dt = np.dtype(dtype)
    inputs, steps, outputs = [((), dt)], [], []
    for shape in shapes:
        inputs += [(shape, dt), (shape, dt)]
    n_in = len(inputs)
    for k, shape in enumerate(shapes):
        p, g = 1 + 2 * k, 2 + 2 * k
        steps.append(Step("mul", (0, g), {}, shape, dt))
        steps.append(Step("sub", (p, n_in + len(steps) - 1), {}, shape, dt))
        outputs.append(n_in + len(steps) - 1)
    return FusedProgram(tuple(inputs), tuple(steps), tuple(outputs))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("order", ["C", "F"])
def test_mixed_shape_update_runs_its_large_parts_in_chunks_in_place(monkeypatch, threads,
                                                                      order):
    """A large parameter's update runs chunk by chunk straight into the parameter's own
    (C- or Fortran-ordered) buffer; the small one runs whole; both give p - lr * g."""
    monkeypatch.setattr(numpy_fusion, "_threads", lambda: threads)
    monkeypatch.setattr(numpy_fusion, "PARALLEL_MIN", 2 * CHUNK)
    submitted = []
    pool = numpy_fusion._executor()
    monkeypatch.setattr(numpy_fusion, "_executor", lambda: types.SimpleNamespace(
        submit=lambda *a: submitted.append(a) or pool.submit(*a)))
    big, small = (2 * CHUNK // 512 + 3, 512), (5, 3)
    prog = _sgd_program([big, small], "float32")
    fn = numpy_fusion.compile_program(prog, gg.backends.get_backend("numpy").kernels)
    rng = np.random.default_rng(3)
    lr = np.array(0.25, np.float32)
    ps = [np.asarray(rng.standard_normal(s), np.float32, order=order) for s in (big, small)]
    gs = [np.asarray(rng.standard_normal(s), np.float32, order=order) for s in (big, small)]
    want = [p.astype(np.float64) - 0.25 * g.astype(np.float64) for p, g in zip(ps, gs)]
    got = fn(lr, ps[0], gs[0], ps[1], gs[1], out=tuple(ps))
    for g_, w, p in zip(got, want, ps):
        assert g_ is p  # written in place, layout kept
        np.testing.assert_allclose(g_, w, rtol=1e-6)
    assert ps[0].flags.f_contiguous == (order == "F")
    # the large part ran in chunks: one range in the pool, one on the calling thread
    assert len(submitted) == (1 if threads == 2 else 0)


def test_chunked_update_never_writes_into_a_different_view_of_an_input():
    """An out buffer overlapping an input it is not (here: the same memory one element
    further on) would overwrite, chunk by chunk, what later chunks still read: a fresh
    array is used instead."""
    n = 2 * CHUNK + 11
    prog = _sgd_program([(n,)], "float64")
    fn = numpy_fusion.compile_program(prog, gg.backends.get_backend("numpy").kernels)
    buf = np.arange(n + 1.0)
    p, out = buf[:-1], buf[1:]
    got = fn(np.array(2.0), p, np.ones(n), out=(out,))
    np.testing.assert_array_equal(got, np.arange(float(n)) - 2.0)


def test_generated_function_reuses_dead_temporaries():
    from graphgrad.ir.fused import FusedProgram, Step

    f32 = np.dtype("float32")
    s = (8,)
    steps = (Step("exp", (0,), {}, s, f32), Step("tanh", (1,), {}, s, f32),
             Step("mul", (2, 0), {}, s, f32))
    source, _ = numpy_fusion.generate(FusedProgram(((s, f32),), steps, (3,)), {})
    assert "u_tanh(r1, r1)" in source  # exp's buffer is reused by tanh


@pytest.mark.parametrize("dropped", [1.0, np.nan, np.inf])
def test_where_masking_is_a_multiply_and_stays_exact(dropped):
    """where(c, g, 0) runs as g * c (into the given buffer) unless a dropped value is
    NaN/Inf, where the exact select runs: the result always equals np.where's."""
    from graphgrad.backends.numpy_backend import where_kernel

    c = np.array([True, False, True, False])
    g = np.array([1.0, dropped, 3.0, -4.0])
    out = np.empty(4)
    for a, b, expected in ((g, np.float64(0), np.where(c, g, 0.0)),
                           (np.float64(0), g, np.where(c, 0.0, g))):
        got = where_kernel(c, a, b, out=out)
        np.testing.assert_array_equal(got, expected)
    general = where_kernel(c, g, -g)
    np.testing.assert_array_equal(general, np.where(c, g, -g))


def _gelu_bias(x, b):
    """A Linear layer's bias, then tanh-GELU: the fused group holds a (width,) operand."""
    h = x + b
    inner = (h + h * h * h * 0.044715) * 0.7978845608028654
    return (h * 0.5 * (gg.tanh(inner) + 1.0) * h).sum()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape, bias, layout", [
    ((2 * CHUNK // 96 + 5, 96), (96,), "C"),          # rows of a bias's width, a ragged end
    ((7, 2 * CHUNK // 224 + 1, 32), (1, 32), "F"),     # a leading 1; a non-C input (strided chunks)
    ((16, 8, 2100), (8, 2100), "C")])                  # spanning two dims
def test_groups_with_a_bias_operand_run_in_chunks_of_rows(monkeypatch, threads, shape, bias,
                                                          layout):
    """A group whose operands have the output's shape, are scalars, or span its trailing
    dims (a bias) runs in chunks of whole rows, the bias broadcasting along them, and
    gives the unfused numbers (value and both gradients)."""
    monkeypatch.setattr(numpy_fusion, "_threads", lambda: threads)
    monkeypatch.setattr(numpy_fusion, "PARALLEL_MIN", 2 * CHUNK)
    raw = gg.differentiate(gg.trace(_gelu_bias, gg.Spec(shape, "float64"),
                                    gg.Spec(bias, "float64")))
    fused, _ = run_passes(raw, ["fusion", "memory"])
    programs = [d["attrs"]["program"] for _, d in fused.nx.nodes(data=True)
                if d["op"] == "fused"]
    assert any(numpy_fusion._row_width(p) for p in programs)
    rng = np.random.default_rng(1)
    x = np.asarray(rng.standard_normal(shape), order=layout)
    b = rng.standard_normal(bias)
    gg.backends.get_backend("numpy")._fused_cache.clear()
    expected = [t.numpy() for t in gg.run_graph(raw, x, b)]
    got = [t.numpy() for t in gg.run_graph(fused, x, b)]
    for e, g_ in zip(expected, got):
        np.testing.assert_allclose(g_, e, rtol=1e-12, atol=1e-12)


def test_row_chunking_declines_operands_that_are_not_trailing_dims():
    """A column operand ((n, 1), e.g. a LayerNorm's mean) does not broadcast along rows:
    such a group keeps the whole-array path."""
    from graphgrad.ir.fused import FusedProgram, Step

    f32 = np.dtype("float32")
    shape = (2 * CHUNK // 64, 64)
    prog = FusedProgram(((shape, f32), ((shape[0], 1), f32)),
                        (Step("sub", (0, 1), {}, shape, f32),), (2,))
    assert numpy_fusion._row_width(prog) is None
    fn = numpy_fusion.compile_program(prog, gg.backends.get_backend("numpy").kernels)
    x, m = np.ones(shape, f32), np.arange(shape[0], dtype=f32)[:, None]
    np.testing.assert_array_equal(fn(x, m), x - m)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("in_place", [False, True])
def test_strided_operands_run_in_chunks_of_their_leading_axis(monkeypatch, threads, bias,
                                                               in_place):
    """Operands that are not contiguous in one order (a transposed view, as attention's
    heads are when merged back) are chunked along the leading axis as they are: the
    numbers are NumPy's, with or without a bias operand, written in place or not."""
    from graphgrad.ir.fused import FusedProgram, Step

    monkeypatch.setattr(numpy_fusion, "_threads", lambda: threads)
    f64 = np.dtype("float64")
    shape = (9, 2 * CHUNK // (9 * 64) + 3, 64)
    second = (64,) if bias else shape
    prog = FusedProgram(((shape, f64), (second, f64)),
                        (Step("mul", (0, 0), {}, shape, f64),
                         Step("add", (2, 1), {}, shape, f64),
                         Step("tanh", (3,), {}, shape, f64)), (4,))
    fn = numpy_fusion.compile_program(prog, gg.backends.get_backend("numpy").kernels)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((shape[1], shape[0], 64)).transpose(1, 0, 2)
    y = rng.standard_normal(second)
    expected = np.tanh(x * x + y)
    target = np.full(shape, np.nan) if in_place else None
    got = fn(x, y, out=(target,))
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert got.flags.c_contiguous and (got is target or not in_place)


def test_a_fused_copy_of_a_transposed_view_is_c_ordered():
    """A copy (what `contiguous()` becomes) is C-ordered, so the reshape after it is a
    view; and a copy is one pass, run whole rather than in chunks."""
    from graphgrad.ir.fused import FusedProgram, Step

    f32 = np.dtype("float32")
    for shape in ((4, 6, 5), (8, 2 * CHUNK // 64, 8)):
        prog = FusedProgram(((shape, f32),), (Step("identity", (0,), {}, shape, f32),), (1,))
        fn = numpy_fusion.compile_program(prog, gg.backends.get_backend("numpy").kernels)
        x = np.arange(np.prod(shape), dtype=f32).reshape(shape[1], shape[0], shape[2])
        got = fn(x.transpose(1, 0, 2))
        np.testing.assert_array_equal(got, x.transpose(1, 0, 2))
        assert got.flags.c_contiguous


@pytest.mark.parametrize("finite", [True, False])
def test_relu_backward_writes_into_its_gradient_operand(finite):
    """relu's gradient may write into g's own buffer (a fused step's `out`), on the fast
    masked multiply and on the exact select that a NaN or Inf in g takes, and gives
    torch's threshold_backward numbers: g where y > 0, else 0 (a NaN there too)."""
    kernel = gg.backends.get_backend("numpy").kernels["relu_backward"]
    rng = np.random.default_rng(3)
    g = rng.standard_normal((64, 33)).astype(np.float32)
    y = np.maximum(rng.standard_normal((64, 33)).astype(np.float32), 0)
    if not finite:
        g[0, :4] = [np.nan, np.inf, np.nan, -np.inf]
        y[0, :4] = [0.0, 0.0, 1.0, 2.0]
    want = np.where(y > 0, g, np.float32(0))
    buf = g.copy()
    got = kernel(buf, y, out=buf)
    assert got is buf
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(kernel(g, y), want)


def test_chunked_program_with_a_masking_on_its_small_part_runs():
    """logsumexp of a large vector: its fused program runs in chunks, and its small part
    (the max, with `where` masking an infinite max) holds NumPy scalars, which a masking
    must not be asked to write into (it raised "return arrays must be of ArrayType")."""
    values = np.random.default_rng(0).standard_normal(300_000).astype(np.float32) * 5
    got = gg.compile(lambda v: gg.logsumexp(v, 0))(gg.tensor(values))
    np.testing.assert_allclose(got.item(), torch.logsumexp(torch.tensor(values), 0).item(),
                               rtol=1e-6)
