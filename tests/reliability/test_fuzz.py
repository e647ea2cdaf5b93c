"""Random op compositions: the NumPy float64 answer or a graphgrad error, nothing else.

Oracles: (1) each op's result against an independent NumPy reference computed from the
same operands (floats widened to float64; `fuzz_ops.py`), within a few float32/float64
rounding errors, with the same dtype category (bool / int / float); an op NumPy refuses
(broadcasting, axes, dtypes) must raise a `gg.GraphgradError`, and graphgrad may never
raise anything else. (2) Gradients against central finite differences of the float64
reference composition, away from kinks. (3) The same program under `gg.compile` gives
the eager values and gradients, or fails with a `gg.GraphgradError` where eager did.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fuzz_ops import BY_NAME, DTYPES, OPS, SHAPES
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import graphgrad as gg

FUZZ = settings(max_examples=400, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@st.composite
def programs(draw, dtypes=DTYPES, max_steps=5):
    inputs = [(draw(st.sampled_from(SHAPES)), draw(st.sampled_from(dtypes)))
              for _ in range(draw(st.integers(1, 3)))]
    steps = [(draw(st.sampled_from([op.name for op in OPS])), draw(st.integers(0, 7)),
              draw(st.integers(0, 7)), draw(st.integers(0, 11)))
             for _ in range(draw(st.integers(1, max_steps)))]
    return inputs, steps, draw(st.integers(0, 2**16))


def make_inputs(inputs, seed) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for shape, dtype in inputs:
        if dtype == "bool":
            out.append(rng.random(shape) < 0.5)
        elif dtype == "int64":
            out.append(rng.integers(-3, 4, shape).astype(np.int64))
        else:
            out.append(rng.uniform(-2, 2, shape).astype(dtype))
    return out


def operands(values, op, i, j):
    """Pick an op's operands, mostly the newest values (so programs compose)."""
    return [values[-1 - (i % len(values))], values[-1 - (j % len(values))]][:op.arity]


def replay(tensors, steps, strict=False):
    """Run the steps on graphgrad tensors: (all values, the GraphgradError that stopped it).

    `strict` lets the error propagate and returns the values only.
    """
    values = list(tensors)
    for name, i, j, k in steps:
        op = BY_NAME[name]
        try:
            values.append(op.run(*operands(values, op, i, j), k))
        except gg.GraphgradError as e:
            if strict:
                raise
            return values, e
    return values if strict else (values, None)


def _category(dtype) -> str:
    return {"b": "bool", "i": "int", "u": "int", "f": "float"}[np.dtype(dtype).kind]


def _as_ref(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def check_step(op, args, k, got, error):
    """One op's graphgrad result (or error) against its NumPy reference on the same operands."""
    arrays = [_as_ref(a.numpy()) for a in args]
    try:
        ref = np.asarray(op.ref(*arrays, k))
    except Exception as e:  # NumPy refuses: graphgrad must have refused with its own error
        assert error is not None, f"{op.name}: NumPy refused ({e}) but graphgrad returned a value"
        return
    assert error is None, f"{op.name}: graphgrad raised {error!r}, NumPy computed {ref!r}"
    out = got.numpy()
    assert out.shape == ref.shape, f"{op.name}: shape {out.shape}, NumPy {ref.shape}"
    assert _category(out.dtype) == _category(ref.dtype), \
        f"{op.name}: dtype {out.dtype}, NumPy's is {ref.dtype}"
    if out.dtype.kind != "f":
        sure = np.ones(out.shape, bool)
        if op.ambiguous is not None:
            sure = ~np.broadcast_to(op.ambiguous(*arrays), out.shape)
        np.testing.assert_array_equal(out[sure], ref.astype(out.dtype)[sure], err_msg=op.name)
        return
    assert_close(out, ref, out.dtype, [a for a in arrays if a.dtype.kind == "f"], op.name)


def assert_close(got, ref, dtype, operands=(), what="", factor=64.0):
    """Equal up to rounding: NaN and infinities in the same places, finite values close."""
    eps = np.finfo(dtype).eps
    rounded = ref.astype(dtype)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(rounded), err_msg=f"{what}: NaNs")
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(rounded), err_msg=f"{what}: +inf")
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(rounded), err_msg=f"{what}: -inf")
    finite = np.isfinite(rounded)
    scale = max([1.0] + [float(np.abs(a[np.isfinite(a)]).max()) for a in operands
                         if np.isfinite(a).any()])
    terms = max([1] + [a.size for a in operands])  # reductions add up to this many terms
    tol = factor * eps * scale * terms
    np.testing.assert_allclose(got[finite], rounded[finite].astype(np.float64), rtol=factor * eps,
                               atol=tol, err_msg=what)


# Programs that once failed (kept as regression cases).
F32, F64, BOOL = "float32", "float64", "bool"
FOUND_EAGER = [
    ([((), F32)], [("cat", 0, 0, 0)], 0),  # cat of 0-d tensors: IndexError
    ([((), F32)], [("mean", 0, 0, 2)], 0),  # dim 0 of a 0-d tensor: IndexError
    ([((), BOOL)], [("cube", 0, 0, 0)], 0),  # bool ** 3 gave an int8 tensor
    ([((), F32)], [("argmax", 0, 0, 1)], 0),  # dim -2 of a 0-d tensor was accepted
]
FOUND_COMPILED = [
    ([((), F32)], [("not", 0, 0, 0), ("relu", 0, 0, 0)], 0),  # fused relu of bool: int64
    ([((), F32)], [("not", 0, 0, 0), ("sigmoid", 0, 0, 0)], 0),  # fused 0-d f32 sigmoid
    ([((3, 3), F32), ((), F32)], [("neg", 1, 0, 0), ("matmul", 0, 0, 0),
                                  ("transpose", 0, 0, 0)], 0),  # (a@b).T rewrote an output
]


def _with_examples(found):
    def add(test):
        for program in found:
            test = example(program)(test)
        return test
    return add


@given(programs())
@_with_examples(FOUND_EAGER)
@FUZZ
def test_every_op_matches_numpy_or_raises_a_graphgrad_error(program):
    inputs, steps, seed = program
    arrays = make_inputs(inputs, seed)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        values, error = replay([gg.tensor(a) for a in arrays], steps)
        done = len(values) - len(arrays)
        event(f"ran {done} of {len(steps)} steps" + (f", {type(error).__name__}" if error else ""))
        for s, (name, i, j, k) in enumerate(steps[:done + 1]):
            op = BY_NAME[name]
            args = operands(values[:len(arrays) + s], op, i, j)
            got = values[len(arrays) + s] if s < done else None
            check_step(op, args, k, got, error if s == done else None)


@given(programs())
@_with_examples(FOUND_EAGER + FOUND_COMPILED)
@settings(FUZZ, max_examples=200)
def test_compiled_programs_agree_with_eager(program):
    inputs, steps, seed = program
    arrays = make_inputs(inputs, seed)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        eager, error = replay([gg.tensor(a) for a in arrays], steps)
        compiled = gg.compile(lambda *xs: tuple(replay(xs, steps, strict=True)[len(xs):]))
        try:
            outs = compiled(*[gg.tensor(a) for a in arrays])
        except gg.GraphgradError:
            assert error is not None, "the compiled program failed where eager code ran"
            return
        assert error is None, f"eager raised {error!r}, the compiled program ran"
        scale = max([1.0] + [_finite_max(v.numpy()) for v in eager if v.dtype.kind == "f"])
        for e, c in zip(eager[len(arrays):], outs):
            assert (c.shape, c.dtype) == (e.shape, e.dtype)
            if e.dtype.kind != "f":
                np.testing.assert_array_equal(c.numpy(), e.numpy())
            else:
                assert_close(c.numpy(), e.numpy().astype(np.float64), e.dtype,
                             [np.full(1, scale)], "compiled vs eager", factor=1024.0)


def _finite_max(a) -> float:
    a = np.abs(a[np.isfinite(a)])
    return float(a.max()) if a.size else 0.0


# ---------------------------------------------------------------------- gradients
def reference_chain(arrays, steps):
    """The float64 reference composition: (values, smallest distance to a kink)."""
    values, margin = list(arrays), np.inf
    for name, i, j, k in steps:
        op = BY_NAME[name]
        args = operands(values, op, i, j)
        if op.kink is not None:
            margin = min(margin, float(op.kink(*[_as_ref(np.asarray(a)) for a in args], k)))
        values.append(np.asarray(op.ref(*args, k)))
    return values, margin


def finite_differences(arrays, steps, weights, h=1e-5):
    """Central differences with Richardson extrapolation, and their own error estimate."""
    def loss(xs):
        return float(np.sum(reference_chain(xs, steps)[0][-1] * weights))

    def central(n, idx, step):
        xs = [x.copy() for x in arrays]
        xs[n][idx] += step
        up = loss(xs)
        xs[n][idx] -= 2 * step
        return (up - loss(xs)) / (2 * step)

    grads, errors = [], []
    for n, a in enumerate(arrays):
        g, err = np.zeros_like(a), np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            step = h * max(1.0, abs(a[idx]))
            coarse, fine = central(n, idx, step), central(n, idx, step / 2)
            g[idx] = (4 * fine - coarse) / 3
            err[idx] = abs(fine - coarse)
        grads.append(g)
        errors.append(err)
    return grads, errors


@given(programs(dtypes=["float32", "float64"], max_steps=4))
@settings(FUZZ, max_examples=150)
def test_gradients_match_finite_differences_eager_and_compiled(program):
    inputs, steps, seed = program
    arrays = make_inputs(inputs, seed)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        ref64 = [a.astype(np.float64) for a in arrays]
        try:
            values, margin = reference_chain(ref64, steps)
        except Exception:
            return  # an invalid program: the forward fuzz test covers its error
        final = values[-1]
        if final.dtype.kind != "f" or final.size == 0 or margin < 1e-3 \
                or not all(np.isfinite(v).all() and np.abs(v).max(initial=0) < 1e6
                           for v in values):
            return  # no gradient, or too close to a kink for finite differences
        weights = np.random.default_rng(seed + 1).uniform(-1, 1, final.shape)
        expected, fd_error = finite_differences(ref64, steps, weights)
        eager = _grads(arrays, steps, weights, compiled=False)
        if eager is None:
            return  # the result does not depend differentiably on any input
        event(f"gradients of {len(steps)} steps checked")
        compiled = _grads(arrays, steps, weights, compiled=True)
        gscale = max([1e-3] + [float(np.abs(g).max(initial=0)) for g in expected])
        single = any(a.dtype == np.float32 for a in arrays) or any(
            name == "to_float" for name, *_ in steps)  # float32 rounding on the way
        rtol = 2e-3 if single else 1e-5
        for g, err, e, c in zip(expected, fd_error, eager, compiled):
            np.testing.assert_array_less(np.abs(e - g), rtol * (gscale + np.abs(g)) + err,
                                         err_msg="eager vs finite differences")
            np.testing.assert_allclose(c, e, rtol=rtol, atol=rtol * gscale, err_msg="compiled")


def _grads(arrays, steps, weights, compiled):
    xs = [gg.tensor(a, requires_grad=True) for a in arrays]

    def loss_of(*ts):
        final = replay(ts, steps, strict=True)[-1]
        return (final * gg.tensor(weights, dtype=final.dtype)).sum()

    if not loss_of(*xs).requires_grad:
        return None

    def step(*ts):
        loss = loss_of(*ts)
        loss.backward()
        return loss

    (gg.compile(step) if compiled else step)(*xs)
    return [np.zeros(x.shape) if x.grad is None else x.grad.numpy() for x in xs]


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_every_fuzzed_op_runs_on_a_float_sample(name):
    """Each op in the table is exercised at least once on valid input (the table is live)."""
    op = BY_NAME[name]
    a = np.random.default_rng(0).uniform(0.5, 2, (3, 3))
    with np.errstate(all="ignore"):
        args = [gg.tensor(a, dtype="float64") for _ in range(op.arity)]
        check_step(op, args, 3, op.run(*args, 3), None)
