"""Each change of the catalogue, made between calls of a compiled training step, gives
the numbers the same change gives eagerly.

Oracle: the same step run eagerly (World(..., compiled=False)) with the same changes
and seeds; compared after every call: loss, parameters, gradients, buffers and
optimizer state (rtol 1e-5). One named test per catalogue entry (see
mutation_catalogue.py), each on an optimizer it applies to: call, call, change, call,
call. A change that alters what the plan assumed must retrace, and cache_info() must
say why; a change of a float hyperparameter's value must not (one test per optimizer:
every such change that applies to it, one after another, each followed by a call).
"""

from __future__ import annotations

import pytest
from mutation_catalogue import (
    ALL_OPTIMIZERS,
    CATALOGUE,
    FLOAT_HYPERPARAMETERS,
    World,
    applicable,
    assert_same,
    snapshot,
)


def _applies(name: str) -> str:
    """The first optimizer the change applies to."""
    for opt_name in ALL_OPTIMIZERS:
        world = World(opt_name, compiled=False)
        world.call()  # optimizer state exists from the first step on
        if CATALOGUE[name](world):
            return opt_name
    raise AssertionError(f"{name} applies to no optimizer")


def run_sequence(opt_name: str, actions: list[str]) -> World:
    """Run `actions` ("call" or a catalogue name) on both worlds, comparing after calls."""
    eager, compiled = World(opt_name, False), World(opt_name, True)
    for i, action in enumerate(actions):
        if action == "call":
            a, b = eager.call(), compiled.call()
            assert_same(snapshot(eager, a), snapshot(compiled, b),
                        f"{opt_name} after {actions[:i + 1]}")
        else:
            applied = CATALOGUE[action](eager)
            assert CATALOGUE[action](compiled) == applied
    return compiled


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_change_between_calls_matches_eager(name):
    compiled = run_sequence(_applies(name), ["call", "call", name, "call", "call"])
    info = compiled.step.cache_info()  # (model.scale's grad accumulates: one retrace)
    assert info.traces <= 4, str(info)


@pytest.mark.parametrize("opt_name", list(ALL_OPTIMIZERS))
def test_float_hyperparameter_changes_cost_no_retrace(opt_name):
    changes = [name for name in FLOAT_HYPERPARAMETERS if name in applicable(opt_name)]
    assert changes
    actions = ["call", "call"] + [a for name in changes for a in (name, "call")]
    info = run_sequence(opt_name, actions).step.cache_info()
    # (the second call retraces once: model.scale's grad, None at first, accumulates)
    assert all(record.call <= 2 for record in info.records), f"{changes}: {info}"
