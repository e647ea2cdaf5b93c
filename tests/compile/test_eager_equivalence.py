"""Differential test: random sequences of compiled training-step calls interleaved with
random changes from the catalogue give, after every call, the numbers eager gives.

Oracle: the same sequence run eagerly (mutation_catalogue.World(..., compiled=False)),
compared after every call: returned loss, parameters, gradients, buffers and
optimizer state (rtol 1e-5). Optimizers: SGD with momentum (with and without
dampening and weight decay), Adam, AdamW, RMSprop, Adagrad; the model has Dropout and
BatchNorm. Hypothesis draws the optimizer and a seed for up to three rounds of up to
three changes, each followed by one or two calls; example counts are bounded so the
file runs in well under a minute. A second, smaller draw covers the optimizers added
since (Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop) over the whole catalogue, with the
same oracle.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutation_catalogue import (
    CATALOGUE,
    MORE_OPTIMIZERS,
    OPTIMIZERS,
    World,
    applicable,
    assert_same,
    snapshot,
)


def _rounds(opt_name: str, seed: int, catalogue: str = "issue") -> list[tuple[list[str], int]]:
    """Up to three rounds of up to three changes (uniform over those that apply to this
    optimizer), each followed by one or two calls. (Drawn from a seed: hypothesis's own
    choices cluster around a few names; a seed spreads the draws over the catalogue.)"""
    rng = random.Random(seed)
    names = applicable(opt_name, catalogue)
    return [([rng.choice(names) for _ in range(rng.randint(1, 3))], rng.randint(1, 2))
            for _ in range(rng.randint(1, 3))]


@settings(max_examples=45, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(opt_name=st.sampled_from(sorted(OPTIMIZERS)), seed=st.integers(0, 2**32 - 1))
def test_random_changes_between_calls_match_eager(opt_name, seed):
    eager, compiled = World(opt_name, False), World(opt_name, True)
    done = ["call"]
    a, b = eager.call(), compiled.call()
    assert_same(snapshot(eager, a), snapshot(compiled, b), f"{opt_name}: {done}")
    for changes, calls in _rounds(opt_name, seed, "all"):
        for name in changes:
            done.append(name)
            assert CATALOGUE[name](eager) == CATALOGUE[name](compiled)
        for _ in range(calls):
            done.append("call")
            a, b = eager.call(), compiled.call()
            assert_same(snapshot(eager, a), snapshot(compiled, b), f"{opt_name}: {done}")


@settings(max_examples=18, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(opt_name=st.sampled_from(sorted(MORE_OPTIMIZERS)), seed=st.integers(0, 2**32 - 1))
def test_random_changes_match_eager_with_the_other_optimizers(opt_name, seed):
    eager, compiled = World(opt_name, False), World(opt_name, True)
    done = ["call"]
    for changes, calls in [([], 1), *_rounds(opt_name, seed, "all")]:
        for name in changes:
            done.append(name)
            assert CATALOGUE[name](eager) == CATALOGUE[name](compiled)
        for _ in range(calls):
            a, b = eager.call(), compiled.call()
            assert_same(snapshot(eager, a), snapshot(compiled, b), f"{opt_name}: {done}")
            done.append("call")

