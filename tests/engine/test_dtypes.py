"""Dtypes and type promotion follow PyTorch.

Oracle: PyTorch's promotion rules (docs, "Type promotion"), written out by hand as the
table below: categories bool < integer < float; dimensioned tensors decide within a
category; 0-d tensors and Python scalars only count when they raise the category, and
then a Python float gives the default float32. When torch is installed the same table
is also checked against `torch.result_type`.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg

# (left, right, expected): "f32[]" is a 0-d tensor, "f32" a 1-d one, 1.5 / 2 / True Python
# scalars.
TABLE = [
    ("f32", 1.5, "f32"), ("i64", 1.5, "f32"), ("i64", 2, "i64"), ("bool", 2, "i64"),
    ("bool", True, "bool"), ("bool", "bool", "bool"), ("bool", 1.5, "f32"),
    ("f32", "f64", "f64"), ("f32", "f64[]", "f32"), ("i64", "f32[]", "f32"),
    ("i64", "f64[]", "f64"), ("f32", "i64", "f32"), ("f64", "i64", "f64"),
    ("f64[]", 1.5, "f64"), ("i64[]", 1.5, "f32"), ("f64[]", "f32[]", "f64"),
    ("bool", "i64[]", "i64"), ("f64", 2, "f64"), ("i64", True, "i64"),
]
DT = {"f32": gg.float32, "f64": gg.float64, "i64": gg.int64, "bool": gg.bool}


def _make(spec):
    if not isinstance(spec, str):
        return spec
    dtype = DT[spec.rstrip("[]")]
    return gg.ones((), dtype=dtype) if spec.endswith("[]") else gg.ones(2, dtype=dtype)


@pytest.mark.parametrize("left, right, expected", TABLE)
def test_binary_promotion(left, right, expected):
    a, b = _make(left), _make(right)
    assert (a + b).dtype == DT[expected]
    assert (b * a).dtype == DT[expected]  # symmetric, scalars on either side
    assert gg.where(gg.ones(2, dtype=gg.bool), a, b).dtype == DT[expected]


def test_promotion_table_agrees_with_torch():
    import torch  # test-only reference, installed by the test command
    tdt = {"f32": torch.float32, "f64": torch.float64, "i64": torch.int64, "bool": torch.bool}

    def make(spec):
        if not isinstance(spec, str):
            return spec
        dtype = tdt[spec.rstrip("[]")]
        return torch.ones((), dtype=dtype) if spec.endswith("[]") else torch.ones(2, dtype=dtype)

    for left, right, expected in TABLE:
        a, b = make(left), make(right)
        if not isinstance(a, torch.Tensor):
            a, b = b, a
        assert torch.result_type(a, b) == tdt[expected], (left, right)


def test_op_specific_result_dtypes():
    i = gg.tensor([1, 2])
    assert (i / i).dtype == gg.float32  # true division
    assert (i > 1).dtype == gg.bool
    assert gg.tensor([True, False]).sum().dtype == gg.int64
    assert i.mean(dtype=gg.float32).dtype == gg.float32
    with pytest.raises(gg.DtypeError, match="could not infer output dtype"):
        i.mean()  # as torch: an integer mean needs dtype= or .float()
    assert gg.exp(i).dtype == gg.float32
    assert (i ** 2).dtype == gg.int64 and (i ** 0.5).dtype == gg.float32
    assert gg.ones(2).argmax().dtype == gg.int64
    assert gg.one_hot(i, 3).dtype == gg.int64


@pytest.mark.parametrize("spec, dtype", [
    ("float32", np.float32), ("float", np.float32), (gg.float64, np.float64),
    ("double", np.float64), ("long", np.int64), ("int64", np.int64), ("bool", np.bool_),
    (float, np.float32), (int, np.int64),
])
def test_dtype_spellings(spec, dtype):
    assert gg.zeros(1, dtype=spec).dtype == np.dtype(dtype)


def test_unsupported_dtype_is_a_graphgrad_error():
    with pytest.raises(gg.DtypeError, match="float32, float64, int64, int32, int16, uint8 and"):
        gg.zeros(1, dtype="complex64")
    assert gg.tensor(np.arange(3, dtype=np.int8)).dtype == gg.int64
    assert gg.tensor(np.ones(2, dtype=np.float16)).dtype == gg.float32


def test_numpy_scalars_promote_like_python_numbers_as_in_torch():
    for scalar in (np.float64(0.5), np.float32(0.5), np.int64(2)):
        for data in ([1, 2], [1.0, 2.0]):
            want = (torch.tensor(data) * scalar).dtype
            got = (gg.tensor(data) * scalar).dtype
            assert str(got) == str(want).replace("torch.", ""), (data, type(scalar))


def test_reductions_over_an_empty_dim_list_and_repeated_dims_as_torch():
    assert gg.ones(2, 3).sum(()).item() == 6.0 and gg.ones(2, 3).mean([]).item() == 1.0
    with pytest.raises(gg.ShapeError, match="appears multiple times"):
        gg.ones(2, 3).sum((0, 0))
