"""`gg.Generator` and the `generator=`/`device=` arguments of random draws.

Oracles: PyTorch's documented behaviour (a Generator is a source of its own: the same
seed gives the same draws whatever the global seed, `initial_seed()` of a new one is
67280421310721, `manual_seed` returns the generator, `randint(high, size)` draws from
[0, high)), and sample statistics for `normal`/`bernoulli`. The numbers themselves are
graphgrad's (no library shares PyTorch's streams).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphgrad as gg


def _draws(seed):
    g = gg.Generator().manual_seed(seed)
    return np.concatenate([
        gg.randn(3, 2, generator=g).numpy().ravel(),
        gg.rand(4, generator=g).numpy(),
        gg.randint(0, 27, (5,), generator=g).numpy().astype(np.float64),
        gg.randperm(6, generator=g).numpy().astype(np.float64),
        gg.multinomial(gg.tensor([0.1, 0.2, 0.7]), 4, replacement=True,
                       generator=g).numpy().astype(np.float64),
        gg.zeros(3).normal_(0, 1, generator=g).numpy(),
    ])


def test_the_same_seed_gives_the_same_draws_whatever_the_global_rng_does():
    gg.manual_seed(1)
    first = _draws(2147483647)
    gg.manual_seed(99)
    gg.randn(10)  # the global generator moves; the Generator's draws must not
    np.testing.assert_array_equal(_draws(2147483647), first)
    assert not np.array_equal(_draws(42), first)


def test_multinomial_draws_from_the_generator_it_is_given():
    probs = gg.tensor([0.2, 0.3, 0.5])
    draws = []
    for global_seed in (0, 1):
        gg.manual_seed(global_seed)
        g = gg.Generator().manual_seed(7)
        draws.append(gg.multinomial(probs, 20, replacement=True, generator=g).tolist())
    assert draws[0] == draws[1]


def test_generator_api_as_pytorch():
    g = gg.Generator()
    assert g.initial_seed() == torch.Generator().initial_seed()
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    state = g.get_state()
    a = gg.rand(3, generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(gg.rand(3, generator=g).numpy(), a)


def test_randint_forms_and_device_keyword():
    gg.manual_seed(0)
    t = gg.randint(5, (1000,))
    assert t.shape == (1000,) and t.dtype == gg.int64
    assert 0 <= t.min().item() and t.max().item() == 4
    assert gg.randint(3, 6, (4,), device="cpu").min().item() >= 3
    x = gg.randn(2, 3, device="cpu", requires_grad=True)
    assert x.requires_grad and x.is_leaf
    assert gg.rand_like(x).shape == (2, 3)
    assert gg.randint_like(x, 10).dtype == x.dtype


def test_normal_and_bernoulli_statistics():
    g = gg.Generator().manual_seed(3)
    n = gg.normal(2.0, 3.0, size=(20000,), generator=g).numpy()
    assert abs(n.mean() - 2.0) < 0.1 and abs(n.std() - 3.0) < 0.1
    b = gg.bernoulli(gg.full((20000,), 0.25), generator=g).numpy()
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.25) < 0.02
    assert gg.normal(gg.zeros(3, 2), 1.0).shape == (3, 2)


def test_a_generator_inside_a_compiled_step_is_a_clear_error():
    g = gg.Generator().manual_seed(0)

    @gg.compile
    def step(x):
        return x + gg.randn(3, generator=g)

    with pytest.raises(gg.TracingError, match="generator"):
        step(gg.zeros(3))


def test_a_wrong_generator_is_named():
    with pytest.raises(gg.ArgumentTypeError, match="gg.Generator"):
        gg.randn(2, generator=np.random.default_rng(0))
    with pytest.raises(gg.DtypeError, match="floating-point"):
        gg.rand(2, dtype=gg.int64)
