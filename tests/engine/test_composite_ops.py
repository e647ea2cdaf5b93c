"""PyTorch functions built from registry ops (engine/ops/composite.py).

Oracle: PyTorch 2.13 on the same inputs: values, and gradients where the function is
differentiable (float64, so the comparison is tight); the compiled path must give the
eager numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphgrad as gg

RNG = np.random.default_rng(0)
A = RNG.uniform(0.5, 2.0, (3, 4))
B = RNG.uniform(0.5, 2.0, (3, 4))
SQ = RNG.standard_normal((4, 4))
V = RNG.standard_normal(4)
V3 = RNG.standard_normal(3)
BATCH = RNG.standard_normal((2, 3, 4))
SPECIAL = np.array([1.0, np.nan, np.inf, -np.inf, 0.0, -2.5])

CASES = {
    "log10": (lambda m, a: m.log10(a), [A]),
    "log2": (lambda m, a: m.log2(a), [A]),
    "exp2": (lambda m, a: m.exp2(a), [A]),
    "expm1": (lambda m, a: m.expm1(a), [A]),
    "expm1_tiny": (lambda m, a: m.expm1(a * 1e-9 - 1e-9), [A]),
    "square": (lambda m, a: m.square(a), [A]),
    "reciprocal": (lambda m, a: m.reciprocal(a), [A]),
    "rsqrt": (lambda m, a: m.rsqrt(a), [A]),
    "tan": (lambda m, a: m.tan(a * 0.5), [A]),
    "sinh": (lambda m, a: m.sinh(a), [A]),
    "cosh": (lambda m, a: m.cosh(a), [A]),
    "clamp_min": (lambda m, a: m.clamp_min(a, 1.0), [A]),
    "clamp_max": (lambda m, a: m.clamp_max(a, 1.0), [A]),
    "lerp": (lambda m, a, b: m.lerp(a, b, 0.3), [A, B]),
    "hypot": (lambda m, a, b: m.hypot(a, b), [A, B]),
    "xlogy": (lambda m, a, b: m.xlogy(a, b), [A, B]),
    "true_divide": (lambda m, a, b: m.true_divide(a, b), [A, B]),
    "nansum": (lambda m, a: m.nansum(a, 1), [A]),
    "nanmean": (lambda m, a: m.nanmean(a), [A]),
    "mm": (lambda m, a, b: m.mm(a, b.T), [A, B]),
    "bmm": (lambda m, a: m.bmm(a, a.transpose(1, 2)), [BATCH]),
    "mv": (lambda m, a, v: m.mv(a, v), [A, V]),
    "outer": (lambda m, v, w: m.outer(v, w), [V, V3]),
    "addmm": (lambda m, a, b: m.addmm(a[:, :3], a, b.T, beta=0.5, alpha=2.0), [A, B]),
    "diagonal": (lambda m, s: m.diagonal(s, 1), [SQ]),
    "diagonal_batched": (lambda m, s: m.diagonal(s, -1, 1, 2), [BATCH]),
    "diag_vector": (lambda m, v: m.diag(v, -2), [V]),
    "diag_matrix": (lambda m, s: m.diag(s), [SQ]),
    "trace": (lambda m, s: s.trace(), [SQ]),
    "movedim": (lambda m, a: m.movedim(a, (0, 1), (2, 0)), [BATCH]),
    "swapaxes": (lambda m, a: m.swapaxes(a, 0, 2), [BATCH]),
    "unflatten": (lambda m, a: m.unflatten(a, 1, (2, 2)), [A]),
    "diff": (lambda m, a: m.diff(a, 2, dim=1), [A]),
    "repeat_interleave": (lambda m, a: m.repeat_interleave(a, 2, dim=0), [A]),
    "repeat_interleave_flat": (lambda m, a: m.repeat_interleave(a, 3), [A]),
    "tile": (lambda m, a: m.tile(a, (2, 1, 2)), [A]),
    "repeat": (lambda m, a: a.repeat(2, 1, 3), [A]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_pytorch(name):
    fn, arrays = CASES[name]
    ours = [gg.tensor(a, dtype=gg.float64, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = fn(gg, *ours), fn(torch, *theirs)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = RNG.standard_normal(ref.shape)
    (out * gg.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    for x, t in zip(ours, theirs):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["log10", "mm", "diagonal", "tile", "nanmean"])
def test_compiled_gives_the_eager_numbers(name):
    fn, arrays = CASES[name]
    args = [gg.tensor(a, dtype=gg.float64) for a in arrays]
    compiled = gg.compile(lambda *xs: fn(gg, *xs))
    np.testing.assert_allclose(compiled(*args).numpy(), fn(gg, *args).numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite", "nan_to_num", "isclose",
                                  "all", "any", "count_nonzero"])
def test_predicates_and_special_values_match_pytorch(name):
    calls = {
        "isnan": lambda m, x: m.isnan(x), "isinf": lambda m, x: m.isinf(x),
        "isfinite": lambda m, x: m.isfinite(x), "nan_to_num": lambda m, x: m.nan_to_num(x),
        "isclose": lambda m, x: m.isclose(x, x + 1e-9, equal_nan=True),
        "all": lambda m, x: m.all(m.isfinite(x)), "any": lambda m, x: m.any(m.isnan(x)),
        "count_nonzero": lambda m, x: m.count_nonzero(x),
    }
    for dtype in (np.float32, np.float64):
        out = calls[name](gg, gg.tensor(SPECIAL.astype(dtype)))
        ref = calls[name](torch, torch.tensor(SPECIAL.astype(dtype)))
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
        assert out.dtype.name == str(ref.dtype).replace("torch.", "")


def test_shape_mistakes_are_named():
    with pytest.raises(gg.ShapeError, match="mm: mat2 must be 2-D"):
        gg.mm(gg.ones(2, 2), gg.ones(2))
    with pytest.raises(gg.ShapeError, match="repeat"):
        gg.ones(2, 2).repeat(2)
