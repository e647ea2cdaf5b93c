"""Differential test: random sequences of compiled training-step calls interleaved with
random changes from the catalogue give, after every call, the numbers eager gives.

Oracle: the same sequence run eagerly (mutation_catalogue.World(..., compiled=False)),
compared after every call: returned loss, parameters, gradients, buffers and
optimizer state (rtol 1e-5). Optimizers: SGD with momentum (with and without
dampening and weight decay), Adam, AdamW, RMSprop, Adagrad; the model has Dropout and
BatchNorm. Hypothesis draws the optimizer and up to 7 actions (a call, or one of the
catalogue's changes); example counts are bounded so the file runs in well under a
minute.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutation_catalogue import MUTATIONS, OPTIMIZERS, World, assert_same, snapshot

ACTIONS = st.one_of(st.just("call"), st.sampled_from(sorted(MUTATIONS)))


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(opt_name=st.sampled_from(sorted(OPTIMIZERS)),
       actions=st.lists(ACTIONS, min_size=1, max_size=7))
def test_random_changes_between_calls_match_eager(opt_name, actions):
    eager, compiled = World(opt_name, False), World(opt_name, True)
    done = []
    for action in ["call", *actions, "call"]:
        done.append(action)
        if action == "call":
            a, b = eager.call(), compiled.call()
            assert_same(snapshot(eager, a), snapshot(compiled, b), f"{opt_name}: {done}")
        else:
            assert MUTATIONS[action](eager) == MUTATIONS[action](compiled)
