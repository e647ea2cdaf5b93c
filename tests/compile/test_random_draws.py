"""A compiled step draws from the random generator exactly as eagerly: the same masks,
and the generator left in the same state for every draw after the call.

Oracle: the same step run eagerly from the same seed.
"""

import numpy as np
import pytest

import graphgrad as gg
import graphgrad.nn.functional as F


def test_an_unused_random_draw_still_advances_the_generator_as_eagerly():
    """Finding: dead-node pruning dropped an unused dropout, so the step's other masks and
    every draw after the call differed from eager."""
    x = gg.randn(16, 4)

    def step(x):
        F.dropout(x, 0.5)  # an auxiliary head whose output is not used
        gg.randn(3)
        return F.dropout(x, 0.5).sum()
    compiled = gg.compile(step)
    for _ in range(2):
        gg.manual_seed(0)
        want, want_after = step(x).item(), gg.rand(3).numpy()
        gg.manual_seed(0)
        got, got_after = compiled(x).item(), gg.rand(3).numpy()
        assert got == pytest.approx(want, rel=1e-6)
        np.testing.assert_array_equal(got_after, want_after)
