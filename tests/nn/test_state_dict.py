"""state_dict / load_state_dict: keys, in-place loading, strict errors.

Oracle: torch.nn.Module's documented contract: keys are dotted names of parameters
then persistent buffers, module by module; loading copies values into the existing
tensors; missing, unexpected and mis-shaped keys are reported by name.
"""

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn


def net():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_keys_in_pytorch_order():
    assert list(net().state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked", "3.weight", "3.bias"]


def test_values_are_detached_and_non_persistent_buffers_are_left_out():
    m = nn.Linear(2, 2)
    m.register_buffer("tmp", gg.zeros(2), persistent=False)
    sd = m.state_dict()
    assert "tmp" not in sd and not sd["weight"].requires_grad
    assert m.state_dict(keep_vars=True)["weight"] is m.weight
    assert list(m.state_dict(prefix="model."))[:1] == ["model.weight"]


def test_load_copies_in_place_and_reproduces_outputs():
    gg.manual_seed(1)
    a = net()
    gg.manual_seed(2)
    b = net()
    x = gg.randn(5, 3)
    a.eval()
    b.eval()
    ids = [id(p) for p in b.parameters()]
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert [id(p) for p in b.parameters()] == ids
    np.testing.assert_array_equal(b(x).numpy(), a(x).numpy())


def test_load_accepts_numpy_arrays():
    m = nn.Linear(2, 1)
    m.load_state_dict({"weight": np.array([[1.0, 2.0]]), "bias": np.array([0.5])})
    assert m(gg.tensor([[1.0, 1.0]])).item() == pytest.approx(3.5)
    assert m.weight.dtype == gg.float32


def test_strict_errors_name_missing_and_unexpected_keys():
    m = nn.Linear(2, 1)
    sd = {"weight": gg.zeros(1, 2), "extra.weight": gg.zeros(1)}
    with pytest.raises(gg.SerializationError) as err:
        m.load_state_dict(sd)
    text = str(err.value)
    assert "Error(s) in loading state_dict for Linear" in text
    assert 'Missing key(s) in state_dict: "bias".' in text
    assert 'Unexpected key(s) in state_dict: "extra.weight".' in text
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra.weight"]
    assert m.weight.numpy().tolist() == [[0.0, 0.0]]


def test_shape_mismatch_is_an_error_even_when_not_strict():
    m = nn.Linear(2, 1)
    sd = {"weight": gg.zeros(3, 2), "bias": gg.zeros(1)}
    for strict in (True, False):
        with pytest.raises(gg.SerializationError,
                           match=r"size mismatch for weight: copying a param with shape "
                                 r"\(3, 2\) from checkpoint, the shape in current model is "
                                 r"\(1, 2\)"):
            m.load_state_dict(sd, strict=strict)


def test_a_submodule_held_under_two_names_appears_under_both_as_in_torch():
    class Shared(gg.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = gg.nn.Linear(2, 2)
            self.b = self.a

    class TorchShared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(2, 2)
            self.b = self.a

    assert list(Shared().state_dict()) == list(TorchShared().state_dict())
    Shared().load_state_dict(TorchShared().state_dict())  # strict: every key matches
    seq, tseq = gg.nn.Sequential(gg.nn.Linear(2, 3)), torch.nn.Sequential(torch.nn.Linear(2, 3))
    for prefix in ("x", "x."):
        assert list(seq.state_dict(prefix=prefix)) == list(tseq.state_dict(prefix=prefix))
