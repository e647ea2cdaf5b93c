"""The Tensor API of issue 2: creation functions, basic facts, conversions, repr.

Oracle: PyTorch's documented behaviour for the same calls (default dtypes, shapes,
values), written out by hand here, and NumPy for the values of ranges and identities.
"""

import numpy as np
import pytest

import graphgrad as gg


@pytest.mark.parametrize("make, shape, dtype, value", [
    (lambda: gg.zeros(2, 3), (2, 3), "float32", 0),
    (lambda: gg.zeros((2, 3), dtype=gg.int64), (2, 3), "int64", 0),
    (lambda: gg.ones(4), (4,), "float32", 1),
    (lambda: gg.ones((), dtype="float64"), (), "float64", 1),
    (lambda: gg.full((2, 2), 7), (2, 2), "int64", 7),
    (lambda: gg.full((2, 2), 7.5), (2, 2), "float32", 7.5),
    (lambda: gg.full((3,), True), (3,), "bool", True),
    (lambda: gg.zeros_like(gg.ones(2, dtype=gg.int64)), (2,), "int64", 0),
    (lambda: gg.ones_like(gg.zeros(3, 1, dtype=gg.float64)), (3, 1), "float64", 1),
    (lambda: gg.zeros(0, 3), (0, 3), "float32", 0),
])
def test_filled_creation(make, shape, dtype, value):
    t = make()
    assert t.shape == shape and t.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(t.numpy(), np.full(shape, value, dtype))


def test_ranges_and_identity():
    assert gg.arange(5).dtype == gg.int64
    np.testing.assert_array_equal(gg.arange(5).numpy(), np.arange(5))
    np.testing.assert_allclose(gg.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    assert gg.arange(0, 1, 0.25).dtype == gg.float32
    np.testing.assert_allclose(gg.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(gg.eye(3).numpy(), np.eye(3))
    assert gg.eye(2, 3).shape == (2, 3)


def test_tensor_from_data_uses_pytorch_defaults():
    assert gg.tensor(1.5).dtype == gg.float32
    assert gg.tensor(3).dtype == gg.int64
    assert gg.tensor(True).dtype == gg.bool
    assert gg.tensor([[1, 2], [3, 4.0]]).dtype == gg.float32
    assert gg.tensor(np.arange(3, dtype=np.float64)).dtype == gg.float64
    assert gg.tensor([1, 2], dtype="float64").dtype == gg.float64
    t = gg.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.grad is None


def test_tensor_copies_its_data():
    arr = np.zeros(3)
    t = gg.tensor(arr)
    arr[0] = 5
    assert t.tolist() == [0.0, 0.0, 0.0]


def test_basic_facts():
    x = gg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3
    assert x.numel() == 6 and len(x) == 2
    assert x.T.shape == (3, 2) and x.T.tolist() == [[1, 4], [2, 5], [3, 6]]
    assert x[0, 1].item() == 2.0 and isinstance(x[0, 1].item(), float)
    assert gg.tensor(3).item() == 3 and isinstance(gg.tensor(3).item(), int)
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().dtype == np.float32
    assert float(gg.tensor(2.5)) == 2.5 and int(gg.tensor(4)) == 4
    with pytest.raises(gg.ShapeError, match="one element"):
        x.item()


def test_conversions():
    x = gg.tensor([1.7, -2.2])
    assert x.double().dtype == gg.float64
    assert x.long().tolist() == [1, -2]
    assert gg.tensor([1, 2]).float().dtype == gg.float32
    assert x.astype("float64").dtype == gg.float64
    assert x.to(gg.float64).dtype == gg.float64
    assert x.to("double").dtype == gg.float64
    assert x.to(gg.int64).dtype == gg.int64
    assert x.bool().tolist() == [True, True]


def test_detach_and_clone():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.tolist() == [2.0, 4.0]
    c = x.clone()
    assert c.requires_grad and c.grad_fn == "identity"
    (c * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    with gg.no_grad():
        c.add_(1.0)
    assert x.tolist() == [1.0, 2.0]  # a clone owns its buffer


def test_requires_grad_():
    x = gg.tensor([1.0])
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    with pytest.raises(gg.AutogradError, match="floating-point"):
        gg.tensor([1]).requires_grad_()
    y = gg.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(gg.AutogradError, match="detach"):
        y.requires_grad_(False)


def test_integer_results_never_require_grad():
    x = gg.tensor([1.5, 2.5], requires_grad=True)
    assert not x.long().requires_grad
    assert not x.argmax().requires_grad
    assert not (x > 2).requires_grad


def test_repr_shows_values_dtype_and_origin():
    assert repr(gg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(gg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(gg.tensor([1.0], dtype="float64")) == "tensor([1.], dtype=float64)"
    a = gg.tensor(2.0, requires_grad=True)
    assert repr(a) == "tensor(2., requires_grad=True)"
    assert repr(a * 3) == "tensor(6., grad_fn=<MulBackward0>)"
    assert repr(gg.tensor([0.123456])) == "tensor([0.1235])"


def test_grad_accumulates_and_zeroes():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    assert x.grad is None
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    (x * x).sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0]
    (3 * x).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_backward_with_gradient_on_non_scalar():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.backward(gg.tensor([1.0, 10.0]))
    assert x.grad.tolist() == [2.0, 40.0]
    with pytest.raises(gg.AutogradError, match="needs a `gradient`"):
        (x * 2).backward()
    with pytest.raises(gg.ShapeError, match="does not match"):
        (x * 2).backward(gg.ones(3))
    with pytest.raises(gg.AutogradError, match="does not require grad"):
        gg.ones(2).sum().backward()


def test_tensor_methods_mirror_functions():
    x = gg.tensor([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]])
    assert x.sum(dim=1, keepdim=True).shape == (2, 1)
    assert x.sum(axis=1, keepdims=True).shape == (2, 1)
    assert x.tanh().tolist() == gg.tanh(x).tolist()
    values, indices = x.max(dim=1)
    assert values.tolist() == [3.0, 5.0] and indices.tolist() == [2, 1]
    assert x.max().item() == 5.0 and x.argmin().item() == 5
    assert x.view(3, 2).shape == (3, 2) and x.view(-1).shape == (6,)
    assert x.permute(1, 0).shape == (3, 2) and x.unsqueeze(0).shape == (1, 2, 3)
    assert gg.ones(3, 1).expand(-1, 4).shape == (3, 4)
    assert x.flatten().shape == (6,) and gg.ones(1, 3, 1).squeeze().shape == (3,)
    assert x[x > 2].tolist() == [3.0, 4.0, 5.0]
    assert x[:, [0, 2]].tolist() == [[1.0, 3.0], [4.0, -6.0]]
    assert x[None, ..., 1].shape == (1, 2)
    assert x.gather(1, gg.tensor([[0], [2]])).tolist() == [[1.0], [-6.0]]
    assert gg.one_hot(gg.tensor([0, 2]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    assert gg.cat([x, x], dim=0).shape == (4, 3) and gg.stack([x, x], dim=1).shape == (2, 2, 3)
