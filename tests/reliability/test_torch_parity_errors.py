"""Issue 25: inputs PyTorch refuses are refused here too, in graphgrad's error classes.

Oracle: PyTorch 2.13 run on the same input, side by side. Where PyTorch raises, graphgrad
raises a `gg.GraphgradError` subclass that is also the builtin class PyTorch users catch
(ValueError for ValueError, IndexError for IndexError, TypeError for TypeError; PyTorch's
RuntimeError maps to the closest graphgrad class, checked here by name), and whose
message names the op or argument, the shapes/dtypes where there are some, and the line
of this file that made the call. Where PyTorch returns a value, graphgrad returns the
same one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn, optim

FILE = "test_torch_parity_errors.py"


def both_raise(gg_fn, torch_fn, kind, *parts, builtin=None, line=None):
    """gg_fn raises `kind` naming `parts` and its line (or `line`); torch_fn raises too.
    `builtin` (default: the class PyTorch raised) must be a base of graphgrad's error."""
    with pytest.raises(Exception) as theirs:
        torch_fn()
    with pytest.raises(kind) as ours:
        gg_fn()
    err, msg = ours.value, str(ours.value)
    assert isinstance(err, gg.GraphgradError)
    assert f"{FILE}:{line or gg_fn.__code__.co_firstlineno}" in msg, msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    builtin = builtin or type(theirs.value)
    assert isinstance(err, builtin), (type(err).__mro__, builtin)
    return err


def test_integer_overflow_raises_instead_of_wrapping():
    both_raise(lambda: gg.tensor([2**63]), lambda: torch.tensor([2**63]),
               gg.ArgumentError, "9223372036854775808", "int64", "overflow")
    both_raise(lambda: gg.tensor([-2**63 - 1]), lambda: torch.tensor([-2**63 - 1]),
               gg.ArgumentError, "overflow")
    both_raise(lambda: gg.tensor(np.array([2**64 - 1], np.uint64)),
               lambda: torch.tensor([2**64 - 1]), gg.ArgumentError, "int64")
    both_raise(lambda: gg.tensor([-1, 2**63]), lambda: torch.tensor([-1, 2**63]),
               gg.ArgumentError, "overflow")  # NumPy alone would silently make floats
    assert gg.tensor([2**63 - 1]).item() == torch.tensor([2**63 - 1]).item()
    for data, dtype, tdtype in [([-1, 2**63], gg.float64, torch.float64),
                                ([2**63], gg.float32, torch.float32),
                                ([1.5, 2**70], None, None)]:
        np.testing.assert_array_equal(gg.tensor(data, dtype=dtype).numpy(),
                                      torch.tensor(data, dtype=tdtype).numpy())


def test_requires_grad_on_an_integer_tensor_raises_however_it_is_set():
    def set_attr(t):
        t.requires_grad = True

    t, tt = gg.tensor([1, 2]), torch.tensor([1, 2])
    both_raise(lambda: set_attr(t), lambda: set_attr(tt), gg.AutogradError, "i64",
               builtin=RuntimeError, line=set_attr.__code__.co_firstlineno + 1)
    assert not t.requires_grad
    f = gg.tensor([1.0])
    f.requires_grad = True
    assert f.requires_grad and f.is_leaf


def test_assigned_grad_must_be_a_tensor_of_the_same_dtype_and_shape():
    p, tp = gg.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)

    def assign(x, g):
        x.grad = g

    both_raise(lambda: assign(p, gg.zeros(2, dtype=gg.int64)),
               lambda: assign(tp, torch.zeros(2, dtype=torch.long)), gg.DtypeError,
               "i64", "f32", builtin=TypeError, line=assign.__code__.co_firstlineno + 1)
    both_raise(lambda: assign(p, [1.0, 2.0]), lambda: assign(tp, [1.0, 2.0]), gg.DtypeError,
               "list", line=assign.__code__.co_firstlineno + 1)
    assign(p, gg.ones(2))
    assert p.grad.tolist() == [1.0, 1.0]


def test_randperm_of_a_negative_count():
    both_raise(lambda: gg.randperm(-3), lambda: torch.randperm(-3), gg.ArgumentError, "-3",
               builtin=ValueError)
    assert gg.randperm(0).shape == tuple(torch.randperm(0).shape)


def test_where_refuses_a_float_condition():
    x, tx = gg.zeros(2), torch.zeros(2)
    both_raise(lambda: gg.where(gg.tensor([1.0, 0.0]), x, x + 1),
               lambda: torch.where(torch.tensor([1.0, 0.0]), tx, tx + 1), gg.DtypeError,
               "where", "f32", builtin=TypeError)
    ok = gg.where(gg.tensor([True, False]), x, x + 1)
    assert ok.tolist() == torch.where(torch.tensor([True, False]), tx, tx + 1).tolist()


@pytest.mark.parametrize("shape,key", [
    ((3,), (np.array([True, False]),)),
    ((2, 3, 4), (slice(None), np.array([True, False]))),
    ((2, 3, 4), (Ellipsis, np.array([True, False, True]))),
])
def test_a_boolean_mask_of_the_wrong_length(shape, key):
    x, tx = gg.zeros(*shape), torch.zeros(*shape)
    gkey = tuple(gg.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
    tkey = tuple(torch.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
    both_raise(lambda: x[gkey], lambda: tx[tkey], gg.IndexingError, "mask", str(list(shape)))


def test_boolean_masks_of_the_right_shape_still_select_as_torch():
    x = np.arange(24.0).reshape(2, 3, 4)
    for key in [(np.array([True, False]),), (slice(None), np.array([True, False, True])),
                (Ellipsis, np.array([True, False, True, True])),
                (0, np.arange(12).reshape(3, 4) % 3 == 0)]:
        gkey = tuple(gg.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
        tkey = tuple(torch.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
        np.testing.assert_array_equal(gg.tensor(x)[gkey].numpy(),
                                      torch.tensor(x)[tkey].numpy())


def test_transpose_of_a_0d_tensor():
    both_raise(lambda: gg.tensor(2.0).transpose(0, 1), lambda: torch.tensor(2.0).transpose(0, 1),
               gg.IndexingError, "transpose", "0-d")
    assert gg.tensor(2.0).transpose(0, 0).item() == torch.tensor(2.0).transpose(0, 0).item()
    assert gg.tensor(2.0).transpose(-1, 0).item() == 2.0
    assert gg.tensor(2.0).t().item() == torch.tensor(2.0).t().item()


@pytest.mark.parametrize("make,what,size", [
    (lambda: gg.zeros(10**6, 10**7), "zeros", "bytes"),
    (lambda: gg.ones(10**6, 10**7), "ones", "bytes"),
    (lambda: gg.full((10**6, 10**7), 2.0), "full", "bytes"),
    (lambda: gg.eye(10**7), "eye", "bytes"),
    (lambda: gg.arange(10**13), "arange", "bytes"),
    (lambda: gg.linspace(0, 1, 10**13), "linspace", "bytes"),
    (lambda: gg.ones(1).expand(10**6, 10**7) * 2, "mul", "36.4 TiB"),  # a kernel's MemoryError
    (lambda: gg.randn(10**6, 10**7), "randn", "bytes"),
    (lambda: nn.Linear(10**6, 10**6), "empty", "bytes"),
])
def test_huge_shapes_say_how_many_bytes_were_asked_for(make, what, size):
    with pytest.raises(gg.AllocationError) as info:
        make()
    msg = str(info.value)
    assert isinstance(info.value, MemoryError) and isinstance(info.value, gg.GraphgradError)
    assert what in msg and size in msg and f"{FILE}:" in msg, msg


def test_the_byte_count_is_exact():
    with pytest.raises(gg.AllocationError, match="40000000000000 bytes"):
        gg.zeros(10**6, 10**7)  # float32: 4 bytes each


def test_bad_hyperparameters_are_graphgrad_errors_of_torchs_builtin_kind():
    p = gg.zeros(1, requires_grad=True)
    tp = torch.zeros(1, requires_grad=True)
    both_raise(lambda: optim.SGD([p], lr="0.1"), lambda: torch.optim.SGD([tp], lr="0.1"),
               gg.ArgumentTypeError, "learning rate", "str")
    both_raise(lambda: optim.SGD([p], lr=-1.0), lambda: torch.optim.SGD([tp], lr=-1.0),
               gg.ArgumentError, "learning rate")
    both_raise(lambda: nn.Dropout(2), lambda: torch.nn.Dropout(2), gg.ArgumentError,
               "dropout", "2")
    both_raise(lambda: gg.manual_seed("a"), lambda: torch.manual_seed("a"), gg.ArgumentError,
               "manual_seed", "'a'")
    both_raise(lambda: gg.manual_seed(None), lambda: torch.manual_seed(None),
               gg.ArgumentTypeError, "manual_seed")
    both_raise(lambda: gg.manual_seed(2**64), lambda: torch.manual_seed(2**64),
               gg.ArgumentError, "manual_seed")


def test_label_smoothing_out_of_range():
    logits, target = gg.zeros(2, 4), gg.tensor([0, 3])
    tl, tt = torch.zeros(2, 4), torch.tensor([0, 3])
    both_raise(lambda: nn.CrossEntropyLoss(label_smoothing=2)(logits, target),
               lambda: torch.nn.CrossEntropyLoss(label_smoothing=2)(tl, tt),
               gg.ArgumentError, "label_smoothing", "2", builtin=ValueError)


def test_seeds_torch_accepts_are_accepted():
    for seed in (-1, 2**64 - 1, "5", 5.5):
        gg.manual_seed(seed)
        torch.manual_seed(seed)
    gg.manual_seed(-1)
    a = gg.rand(3).tolist()
    gg.manual_seed(2**64 - 1)  # -1 is taken modulo 2**64, as torch.initial_seed() shows
    assert gg.rand(3).tolist() == a


def test_cross_entropy_weight_of_the_wrong_length_names_the_loss():
    logits, target = gg.zeros(2, 4), gg.tensor([0, 3])
    err = both_raise(
        lambda: nn.CrossEntropyLoss(weight=gg.ones(3))(logits, target),
        lambda: torch.nn.CrossEntropyLoss(weight=torch.ones(3))(torch.zeros(2, 4),
                                                                torch.tensor([0, 3])),
        gg.ShapeError, "cross_entropy", "4 classes", "[3]", builtin=Exception)
    assert err.op == "cross_entropy"
    with pytest.raises(gg.ShapeError, match="nll_loss"):
        nn.NLLLoss(weight=gg.ones(5))(logits, target)


class _Anything:
    """Answers every attribute, as proxies and mocks do."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: 42


HELPER = _Anything()
MODEL = nn.Linear(3, 2)


def _step(x):
    HELPER.ping()
    return MODEL(x).sum()


def test_trace_ignores_objects_that_only_pretend_to_have_named_parameters():
    graph = gg.trace(_step, gg.Spec((4, 3)))
    assert "%weight" in str(graph) and "%bias" in str(graph)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
                                  "Adamax", "NAdam", "RAdam", "ASGD", "Rprop", "LBFGS"])
def test_every_optimizer_refuses_a_string_learning_rate(name):
    p, tp = gg.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    both_raise(lambda: getattr(optim, name)([p], lr="0.1"),
               lambda: getattr(torch.optim, name)([tp], lr="0.1"),
               gg.ArgumentTypeError, "learning rate", "str")
