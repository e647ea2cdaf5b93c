"""A tensor prints as PyTorch 2.13's does (engine/printing.py), and a 0-d tensor formats
as its number (`f"{loss:.4f}"`).

Oracle: torch's own repr of the same values (its `torch.` dtype prefix dropped).
"""

import numpy as np
import pytest
import torch

import graphgrad as gg

NAN, INF = float("nan"), float("inf")
VALUES = [
    [1.5, 2.0], [1.0, 2.0], [1e-5, 1.0], [1e9, 1.0], [NAN, 1.5, INF], [[1.25, 2], [3, 4]],
    [0.1], [], [100000.5], [1e-5], [0.0, 0.0], [-1.5, 2.25], [NAN, 1.0, 2.0], [INF, -3.0],
    [-0.0, 1.0], [1e-5, NAN], [123456789.0, 1.0], [2.0 ** 60], [1e-4], [1e8 + 1], [0.00011],
    5.5, 11.6521, 3.0, [-INF], [1, 2, 3], [True, False], [[1, -20], [300, 4]],
]
_rng = np.random.default_rng(0)
ARRAYS = [
    _rng.standard_normal((3, 4, 5)).astype(np.float32),
    np.arange(12.0, dtype=np.float32).reshape(3, 4) / 7,
    np.arange(1200).reshape(3, 400),
    np.arange(2000, dtype=np.float32),
    np.array([1, 2, 3], np.int32),
    np.zeros((0, 3), np.float32),
    np.array([1.5, 2.0]),
]


@pytest.mark.parametrize("value", VALUES + ARRAYS, ids=range(len(VALUES) + len(ARRAYS)))
def test_repr_is_pytorchs(value):
    want = repr(torch.tensor(value)).replace("torch.", "")
    assert repr(gg.tensor(value)) == want


def test_grad_fn_and_requires_grad_are_shown_as_pytorch_shows_them():
    x = gg.tensor(3.0, requires_grad=True)
    assert repr(x) == "tensor(3., requires_grad=True)"
    assert repr(x * 2) == "tensor(6., grad_fn=<MulBackward0>)"


def test_a_0d_tensor_formats_as_its_number_and_others_refuse_a_format_spec():
    loss = gg.tensor(0.123456)
    assert f"{loss:.4f}" == "0.1235" == f"{torch.tensor(0.123456):.4f}"
    assert f"{gg.tensor(7)}" == "7" and f"{gg.tensor([1.0])}" == "tensor([1.])"
    with pytest.raises(TypeError):
        f"{gg.tensor([1.0, 2.0]):.2f}"  # noqa: B018  (torch raises too)
