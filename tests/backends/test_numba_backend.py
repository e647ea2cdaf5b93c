"""The Numba backend: generated fused loops, out= buffers, broadcasting, compiled training.

Oracles: the NumPy backend's fused function on the same program (float32 tolerance),
hand-computed values, and eager training on the NumPy backend from the same initial
weights (a compiled step must give eager's numbers). The generated modules are cached
on disk (numba_codegen.cache_dir()), so later runs compile nothing.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphgrad as gg
from graphgrad import nn, optim
from graphgrad.backends import numba_codegen
from graphgrad.backends.conformance.programs import CHAINS, ProgramBuilder, chain
from graphgrad.ir.fused import FusedProgram

pytest.importorskip("numba")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def numba_backend():
    return gg.backends.get_backend("numba")


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _check_same(program: FusedProgram, arrays, numba_backend, **kw):
    got = _as_tuple(numba_backend.compile_fused(program)(*arrays, **kw))
    want = _as_tuple(gg.backends.get_backend("numpy").compile_fused(program)(*arrays))
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray) and g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=2e-6 if w.dtype == np.float32 else 1e-12,
                                   atol=1e-6 if w.dtype == np.float32 else 1e-12)
    return got


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_conformance_chains_match_numpy_fused(numba_backend, name, dtype):
    program, arrays = chain(name, dtype)
    fn = numba_backend.compile_fused(program)
    assert not hasattr(fn, "numba_fallback"), fn.numba_fallback  # every chain is generated
    _check_same(program, arrays, numba_backend)


UNARY = ["tanh", "sigmoid", "relu", "neg", "exp", "abs", "sqrt_abs", "sin", "sign", "erf"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "where_gt"]


def _random_program(draw_ops, shapes, dtype):
    """A program over inputs of `shapes` applying `draw_ops` ((kind, name, a, b) tuples)
    to registers picked by index; outputs: the last register and one earlier one."""
    b = ProgramBuilder([(s, dtype) for s in shapes])
    regs = list(range(len(shapes)))
    for kind, name, i, j in draw_ops:
        x, y = regs[i % len(regs)], regs[j % len(regs)]
        if name == "sqrt_abs":
            r = b.add("sqrt", b.add("abs", x))
        elif name == "where_gt":
            r = b.add("where", b.add("gt", x, y), x, y)
        elif kind == "unary":
            r = b.add(name, x)
        else:
            r = b.add(name, x, y)
        regs.append(r)
    out_shape = b.type_of(regs[-1])[0]
    earlier = [r for r in regs[:-1] if b.type_of(r)[0] == out_shape and r >= len(shapes)]
    return b.build(regs[-1], *earlier[-1:])


@settings(max_examples=15, deadline=None, derandomize=True)  # same programs: cached
@given(st.lists(st.tuples(st.sampled_from(["unary", "binary"]),
                          st.sampled_from(UNARY + BINARY), st.integers(0, 99),
                          st.integers(0, 99)), min_size=1, max_size=6),
       st.lists(st.sampled_from([(3, 4), (4,), (3, 1), (), (1, 4)]), min_size=1,
                max_size=3),
       st.sampled_from(["float32", "float64"]))
def test_random_programs_match_numpy_fused(numba_backend, ops, shapes, dtype):
    ops = [(("unary" if name in UNARY else "binary"), name, i, j) for _, name, i, j in ops]
    program = _random_program(ops, shapes, dtype)
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(-2, 2, s).astype(dtype) for s in shapes]
    _check_same(program, arrays, numba_backend)


def _axpy(shape, dtype="float32"):
    b = ProgramBuilder([(shape, dtype), (shape, dtype), ((), dtype)])
    return b.build(b.add("add", b.add("mul", 1, 2), 0))  # x + a * y


def test_out_buffer_is_written_and_may_be_an_input(numba_backend):
    program = _axpy((5,))
    fn = numba_backend.compile_fused(program)
    x, y = np.arange(5, dtype=np.float32), np.ones(5, np.float32)
    result = fn(x, y, np.float32(2.0), out=(x,))
    assert result is x  # updated in place, as an optimizer step is
    np.testing.assert_array_equal(x, [2, 3, 4, 5, 6])
    # a buffer overlapping an input without being it is declined, not written
    base = np.arange(6, dtype=np.float32)
    result = fn(base[:5], base[1:], 1.0, out=(base[1:],))
    assert result is not None and not np.shares_memory(result, base)
    np.testing.assert_array_equal(result, np.arange(5) + np.arange(1, 6))
    # wrong dtype or a non-contiguous buffer: a new array
    odd = np.empty(10, np.float32)[::2]
    assert fn(x, y, 1.0, out=(odd,)) is not odd


def test_reuse_chain_waits_for_the_input_it_overwrites(numba_backend):
    program, arrays = chain("reuse", "float64")
    want = _check_same(program, arrays, numba_backend)
    first, second = numba_backend.compile_fused(program)(*arrays, out=(arrays[0], None))
    np.testing.assert_allclose(first, want[0])
    np.testing.assert_allclose(second, want[1])


def test_broadcasting_0d_and_empty(numba_backend):
    f32 = np.dtype("float32")
    b = ProgramBuilder([((3, 1), f32), ((1, 4), f32), ((), f32)])
    program = b.build(b.add("mul", b.add("add", 0, 1), 2))
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    y = np.arange(4, dtype=np.float32).reshape(1, 4)
    (got,) = _check_same(program, [x, y, np.float32(2)], numba_backend)
    np.testing.assert_array_equal(got, 2 * (x + y))
    # non-contiguous operands and Python numbers (rule 'python-numbers')
    xt = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    program = _axpy((3, 4))
    got = numba_backend.compile_fused(program)(xt, xt.T.copy().T, 0.5)
    np.testing.assert_array_equal(got, 1.5 * xt)
    scalar = numba_backend.compile_fused(_axpy(()))(np.float32(1), np.float32(2), 3.0)
    assert scalar.shape == () and scalar.dtype == np.float32 and scalar == 7
    empty = numba_backend.compile_fused(_axpy((0, 4)))(*[np.zeros((0, 4), np.float32)] * 2, 1)
    assert empty.shape == (0, 4) and empty.dtype == np.float32


def test_large_arrays_run_the_parallel_loop(numba_backend):
    n = numba_codegen.PARALLEL_MIN * 2 + 3
    program = _axpy((n,), "float64")
    x, y = np.random.default_rng(1).standard_normal((2, n))
    np.testing.assert_allclose(numba_backend.compile_fused(program)(x, y, 0.25), x + 0.25 * y,
                               rtol=1e-15)


def test_generated_source_is_readable_and_integer_powers_fall_back(numba_backend):
    program, _ = chain("adam", "float32")
    source = numba_backend.compile_fused(program).source
    assert "prange" in source and "math.sqrt" in source and "nnan" not in source
    b = ProgramBuilder([((3,), np.dtype("int64"))] * 2)
    ints = b.build(b.add("add", 0, 1))  # wrapping int64 arithmetic: Numba's is NumPy's
    fn = numba_backend.compile_fused(ints)
    assert not hasattr(fn, "numba_fallback")
    big = np.array([2**62, 1, -3])
    np.testing.assert_array_equal(fn(big, big), big + big)
    b = ProgramBuilder([((3,), np.dtype("int64"))] * 2)
    powers = b.build(b.add("pow", 0, 1))  # NumPy's integer power rules: not generated
    fn = numba_backend.compile_fused(powers)
    assert "int64" in fn.numba_fallback
    np.testing.assert_array_equal(fn(np.arange(3), np.full(3, 2)), [0, 1, 4])


def test_generated_module_is_written_once_per_source(numba_backend):
    program = _axpy((7,), "float64")
    module = numba_codegen.load(program)
    assert Path(module.__file__).parent == Path(numba_codegen.cache_dir())
    assert numba_codegen.load(program) is module
    assert Path(module.__file__).read_text() == numba_codegen.source(program)


def _example(name):
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return __import__(name)


def _train(model_fn, make_opt, loss_fn, batches, backend, compiled):
    """Losses and final parameters of len(batches) steps from seed-0 initial weights."""
    gg.manual_seed(0)
    model = model_fn()
    model.to(backend)
    opt = make_opt(model.parameters())

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = gg.compile(backend=backend)(step) if compiled else step
    losses = [float(run(gg.tensor(x).to(backend), gg.tensor(y).to(backend)).item())
              for x, y in batches]
    return losses, [p.numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("case", ["mlp_digits", "two_layer_sgd_momentum"])
def test_compiled_training_on_numba_equals_eager_on_numpy(case):
    rng = np.random.default_rng(0)
    if case == "mlp_digits":
        model_fn, classes = _example("mlp_digits").make_model, 10
        make_opt = lambda ps: optim.Adam(ps, lr=1e-3)  # noqa: E731
    else:
        classes = 3
        model_fn = lambda: nn.Sequential(nn.Linear(64, 32), nn.Tanh(),  # noqa: E731
                                         nn.Linear(32, classes))
        make_opt = lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)  # noqa: E731
    batches = [(rng.uniform(0, 1, (32, 64)).astype(np.float32),
                rng.integers(0, classes, 32)) for _ in range(4)]
    loss_fn = nn.CrossEntropyLoss()
    eager = _train(model_fn, make_opt, loss_fn, batches, "numpy", compiled=False)
    numba = _train(model_fn, make_opt, loss_fn, batches, "numba", compiled=True)
    np.testing.assert_allclose(numba[0], eager[0], rtol=1e-5)
    for got, want in zip(numba[1], eager[1]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op, reference", [
    ("exp", np.exp), ("tanh", np.tanh), ("sigmoid", lambda x: 1 / (1 + np.exp(-x)))])
def test_vectorized_float32_functions_within_3_ulp_of_float64(numba_backend, op, reference):
    """numba_math's exp/tanh/sigmoid (used in float32 loops) against float64 NumPy,
    rounded: at most 3 ulp over a wide range, and NaN/Inf/0 as NumPy gives them."""
    f32 = np.dtype("float32")
    b = ProgramBuilder([((4103,), f32)])
    program = b.build(b.add(op, 0))
    x = np.concatenate([np.random.default_rng(2).uniform(-30, 30, 4096),
                        [0.0, np.inf, -np.inf, np.nan, 1e-7, 88.0, -100.0]]).astype(f32)
    got = numba_backend.compile_fused(program)(x)
    want = reference(x.astype(np.float64)).astype(f32)
    assert "32(" in numba_backend.compile_fused(program).source  # the vectorizable form
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    ulp = np.abs(got[finite].astype(np.float64) - want[finite]) / np.spacing(
        np.maximum(np.abs(want[finite]), np.finfo(f32).tiny))
    assert ulp.max() <= 3, (x[finite][ulp.argmax()], got[finite][ulp.argmax()])


def test_division_by_zero_gives_inf_as_numpy(numba_backend):
    f64 = np.dtype("float64")
    b = ProgramBuilder([((3,), f64), ((3,), f64)])
    got = numba_backend.compile_fused(b.build(b.add("div", 0, 1)))(
        np.array([1.0, -1.0, 0.0]), np.zeros(3))
    np.testing.assert_array_equal(got, [np.inf, -np.inf, np.nan])
