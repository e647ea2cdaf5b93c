"""Calls PyTorch refuses are refused by graphgrad too, in the user's terms.

Oracle: PyTorch 2.13 raising on the same call (checked here), and graphgrad raising a
GraphgradError (which names the op or module and the shapes), never a NumPy error from
inside a kernel, an empty result or a silently different layer.
"""

import pytest
import torch

import graphgrad as gg


def _mha(L):
    L.manual_seed(0)
    return L.nn.MultiheadAttention(4, 2)


CASES = {
    "mha_embed_dim": lambda L: _mha(L)(*(L.zeros(3, 1, 5),) * 3),
    "mha_4d": lambda L: _mha(L)(*(L.zeros(3, 1, 1, 4),) * 3),
    "mha_batch_mismatch": lambda L: _mha(L)(L.zeros(3, 1, 4), L.zeros(3, 2, 4), L.zeros(3, 2, 4)),
    "mha_mask_shape": lambda L: _mha(L)(*(L.zeros(3, 1, 4),) * 3, attn_mask=L.zeros(2, 2)),
    "group_norm_channels": lambda L: L.nn.GroupNorm(2, 4)(L.zeros(2, 6, 3)),
    "batch_norm_stats": lambda L: L.nn.functional.batch_norm(L.zeros(4, 3), L.zeros(4),
                                                             L.ones(4)),
    "gru_empty_sequence": lambda L: L.nn.GRU(3, 4)(L.zeros(0, 2, 3)),
}


@pytest.mark.parametrize("name", CASES)
def test_refused_in_users_terms(name):
    with pytest.raises(Exception):  # noqa: B017  (torch's own error types vary)
        CASES[name](torch)
    with pytest.raises(gg.GraphgradError):
        CASES[name](gg)
