"""Module registration, traversal, modes, zero_grad, repr and .to().

Oracle: torch.nn.Module's documented behaviour, written out by hand: attribute
assignment registers parameters and submodules in assignment order, names are dotted
paths ("0.weight"), shared parameters are listed once, and repr nests children as
"(name): Child(...)" with two-space indentation.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn
from graphgrad.nn.parameter import Parameter


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(gg.ones(2))
        self.inner = nn.Linear(2, 2)
        self.register_buffer("count", gg.zeros(()))
        self.scratch = gg.zeros(2)  # a plain tensor: not registered

    def forward(self, x):
        return self.inner(x) * self.scale


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = Parameter(gg.tensor([1.0, 2.0]))
    assert nn.Parameter is Parameter
    assert isinstance(p, gg.Tensor) and p.requires_grad and p.is_leaf
    assert Parameter(gg.zeros(1), requires_grad=False).requires_grad is False
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.]")
    with pytest.raises(gg.AutogradError):
        Parameter(gg.tensor([1, 2]))


def test_assignment_registers_in_order_with_dotted_names():
    m = nn.Sequential(Block(), nn.ReLU(), nn.Linear(2, 1))
    names = [n for n, _ in m.named_parameters()]
    assert names == ["0.scale", "0.inner.weight", "0.inner.bias", "2.weight", "2.bias"]
    assert [n for n, _ in m.named_buffers()] == ["0.count"]
    assert [n for n, _ in m.named_modules()] == ["", "0", "0.inner", "1", "2"]
    assert [type(c).__name__ for c in m.children()] == ["Block", "ReLU", "Linear"]
    assert len(list(m.modules())) == 5
    assert "scratch" not in dict(m[0].named_buffers())


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(3, 3)
    m = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(list(m.parameters())) == 2
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias"]


def test_reassignment_and_deletion():
    b = Block()
    b.scale = None  # allowed: clears the parameter slot
    assert "scale" not in dict(b.named_parameters())
    with pytest.raises(TypeError, match="Parameter or None"):
        b.scale = gg.ones(2)
    del b.inner
    assert not hasattr(b, "inner")
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = b.missing


def test_assigning_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(gg.zeros(1))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_train_eval_propagate_to_every_module():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())


def test_module_zero_grad():
    m = nn.Linear(2, 1)
    m(gg.ones(3, 2)).sum().backward()
    assert m.weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert m.weight.grad.numpy().tolist() == [[0.0, 0.0]]
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_call_runs_forward_and_missing_forward_is_explained():
    b = Block()
    x = gg.ones(1, 2)
    np.testing.assert_allclose(b(x).numpy(), b.forward(x).numpy())
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(x)


def test_repr_like_pytorch():
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1),
                      nn.Sequential(nn.BatchNorm1d(8), nn.LeakyReLU()), nn.Linear(8, 2, bias=False))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.1, inplace=False)\n"
        "  (3): Sequential(\n"
        "    (0): BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, "
        "track_running_stats=True)\n"
        "    (1): LeakyReLU(negative_slope=0.01)\n"
        "  )\n"
        "  (4): Linear(in_features=8, out_features=2, bias=False)\n"
        ")")
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_to_dtype_keeps_the_parameter_objects():
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    before = [id(p) for p in m.parameters()]
    weights = m[0].weight.numpy()
    assert m.double() is m
    assert [id(p) for p in m.parameters()] == before
    assert all(p.dtype == gg.float64 for p in m.parameters())
    assert m[1].running_mean.dtype == gg.float64
    assert m[1].num_batches_tracked.dtype == gg.int64  # integers are never cast
    np.testing.assert_array_equal(m[0].weight.numpy(), weights.astype(np.float64))
    out = m(gg.ones(4, 2, dtype="float64"))
    assert out.dtype == gg.float64
    m.to(gg.float32)
    assert m[0].weight.dtype == gg.float32


def test_requires_grad_and_get_submodule_and_apply():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 1)))
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    assert m.get_submodule("1.0") is m[1][0]
    with pytest.raises(AttributeError, match="no submodule `7`"):
        m.get_submodule("1.7")
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "Linear", "Sequential", "Sequential"]


def test_deepcopy_gives_an_independent_model_on_the_same_backend():
    import copy

    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    m2 = copy.deepcopy(m)
    x = gg.randn(3, 2)
    np.testing.assert_array_equal(m2(x).numpy(), m(x).numpy())
    assert m2[0].weight is not m[0].weight and isinstance(m2[0].weight, nn.Parameter)
    assert m2[1].running_mean._backend is m[1].running_mean._backend
    with gg.no_grad():
        m2[0].weight.add_(1.0)
    assert not np.array_equal(m2[0].weight.numpy(), m[0].weight.numpy())


def test_train_and_eval_go_through_each_childs_own_train():
    """A child overriding train() (a frozen BatchNorm) is obeyed, as torch recurses
    through child.train(mode); its running statistics stay put."""
    class FrozenBN(gg.nn.BatchNorm1d):
        def train(self, mode=True):
            return super().train(False)

    model = gg.nn.Sequential(gg.nn.Linear(2, 3), FrozenBN(3))
    model.train()
    model(gg.randn(8, 2) + 5)
    assert model[0].training and not model[1].training
    np.testing.assert_array_equal(model[1].running_mean.numpy(), 0)
    with pytest.raises(gg.ArgumentError, match="boolean"):
        model.train("no")


def test_a_parameter_list_slices_into_a_parameter_list_of_the_same_parameters():
    params = nn.ParameterList([Parameter(gg.ones(1)) for _ in range(3)])
    part = params[0:2]
    assert isinstance(part, nn.ParameterList) and len(part) == 2 and part[1] is params[1]


@pytest.mark.parametrize("make", [
    lambda L, m: m.register_buffer("a.b", L.ones(1)),
    lambda L, m: m.register_parameter("", L.nn.Parameter(L.ones(1))),
    lambda L, m: (setattr(m, "plain", 3), m.register_buffer("plain", L.ones(1))),
], ids=["dotted", "empty", "existing_attribute"])
def test_registered_names_are_checked_as_torch(make):
    """Each was accepted (a dotted buffer name then breaks state_dict's keys)."""
    with pytest.raises(KeyError):
        make(torch, torch.nn.Linear(2, 2))
    with pytest.raises(gg.GraphgradError):
        make(gg, nn.Linear(2, 2))
