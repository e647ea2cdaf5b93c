"""PyTorch's everyday vocabulary: devices, `gg.cuda`, `.to` forms, `inference_mode`,
`is_tensor`, `allclose`, `grad_fn` names, and the error for a module class used as a
module.

Oracle: PyTorch 2.13 itself (names, values and which calls raise), side by side.
"""

import subprocess
import sys

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn


@pytest.mark.parametrize("spec", ["cpu", "numpy", gg.device("cpu"), "CPU".lower()])
def test_cpu_names_the_numpy_backend(spec):
    x = gg.randn(3)
    assert x.to(spec) is x
    assert x.device == "cpu" and x.device == "numpy" and x.device == gg.device("cpu")
    assert str(x.device) == "cpu" and repr(x.device) == "device(type='cpu')"
    assert gg.tensor([1.0], device=spec).device.type == "cpu"


def test_cuda_names_the_cupy_backend_and_says_why_it_cannot_run():
    assert gg.device("cuda:0") == gg.device("cuda", 0) == "cupy"
    assert str(gg.device("cuda:0")) == str(torch.device("cuda:0"))
    assert repr(gg.device("cuda", 0)) == repr(torch.device("cuda", 0))
    assert gg.cuda.is_available() == ("cupy" in gg.backends.available())
    if not gg.cuda.is_available():
        assert gg.cuda.device_count() == 0
        for call in (lambda: gg.randn(2).cuda(), lambda: gg.randn(2).to("cuda:0"),
                     lambda: nn.Linear(2, 2).cuda(), lambda: gg.zeros(2, device="cuda")):
            with pytest.raises(gg.BackendError, match="backend 'cupy' is unavailable"):
                call()


def test_bad_device_strings():
    with pytest.raises(gg.BackendError, match="unknown backend 'tpu'"):
        gg.randn(2).to("tpu")
    with pytest.raises(gg.BackendError, match="one device per backend"):
        gg.randn(2).to("cuda:1")


def test_to_takes_torchs_forms():
    x = gg.randn(2, 3)
    t = torch.randn(2, 3)
    assert x.to(gg.float64).dtype == gg.float64 and t.to(torch.float64).dtype == torch.float64
    assert x.to("cpu", gg.float64).dtype == gg.float64
    assert x.to(dtype=gg.float64, device="cpu").dtype == gg.float64
    assert x.to(gg.zeros(1, dtype=gg.float64)).dtype == gg.float64
    assert x.to(gg.float32) is x and t.to(torch.float32) is t
    assert x.to(gg.float32, copy=True) is not x
    assert x.cpu() is x and t.cpu() is t
    m = nn.Linear(2, 2)
    assert m.cpu() is m and m.to(gg.device("cpu")) is m


def test_int_short_and_long():
    x = gg.tensor([1.7, -2.2])
    assert x.long().tolist() == torch.tensor([1.7, -2.2]).long().tolist()
    assert x.long().dtype == gg.int64


def test_inference_mode_is_no_grad_and_a_decorator():
    w = gg.randn(3, requires_grad=True)
    with gg.inference_mode():
        assert not (w * 2).requires_grad and gg.is_inference_mode_enabled()
    with gg.inference_mode(False):
        assert (w * 2).requires_grad

    @gg.inference_mode()
    def f(x):
        return x * 2

    assert not f(w).requires_grad and (w * 2).requires_grad


def test_is_tensor_and_allclose_match_torch():
    a, b = np.array([1.0, 2.0, np.nan]), np.array([1.0, 2.0 + 1e-6, np.nan])
    for kwargs in (dict(), dict(equal_nan=True), dict(rtol=0, atol=0)):
        assert gg.allclose(gg.tensor(a), gg.tensor(b), **kwargs) == \
            torch.allclose(torch.tensor(a), torch.tensor(b), **kwargs)
    assert gg.is_tensor(gg.zeros(1)) and gg.is_tensor(nn.Linear(1, 1).weight)
    assert not gg.is_tensor(np.zeros(1)) and not gg.is_tensor(1.0)
    assert gg.equal(gg.tensor([1, 2]), gg.tensor([1, 2]))
    with pytest.raises(gg.ShapeError):
        gg.allclose(gg.zeros(2), gg.zeros(3))


@pytest.mark.parametrize("make", [
    lambda m, x: m.log(x), lambda m, x: x * 2, lambda m, x: x + 1, lambda m, x: x - 1,
    lambda m, x: m.exp(x), lambda m, x: x.clone(), lambda m, x: m.tanh(x),
    lambda m, x: m.sigmoid(x), lambda m, x: x / 3, lambda m, x: -x, lambda m, x: m.sqrt(x),
])
def test_grad_fn_names_match_torch(make):
    x, t = gg.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0],
                                                                   requires_grad=True)
    ours, theirs = make(gg, x).grad_fn, make(torch, t).grad_fn
    assert ours.name() == theirs.name()
    assert repr(make(gg, x)).endswith(f"grad_fn=<{theirs.name()}>)")
    assert f"<{theirs.name()} object at" in repr(ours)


def test_grad_fn_next_functions_lead_to_the_inputs():
    x = gg.tensor([1.0], requires_grad=True)
    y = gg.exp(x * 2)
    (mul_node, _), = y.grad_fn.next_functions
    assert mul_node.name() == "MulBackward0"
    assert x.grad_fn is None and mul_node.next_functions[0] == (None, 0)


def test_a_module_class_used_as_a_module_says_so():
    sigma = nn.ReLU  # the seed tutorial's slip: the class, not an instance
    with pytest.raises(TypeError, match=r"nn.ReLU is a class.*layer = nn.ReLU"):
        sigma(gg.randn(3))
    with pytest.raises(TypeError, match=r"nn.ReLU is a class; pass a module instance"):
        nn.Sequential(nn.Linear(2, 2), nn.ReLU)


def test_errors_from_python_c_point_at_no_fake_file():
    code = "import graphgrad as gg; gg.randn(3).to('tpu')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    message = proc.stderr.strip().splitlines()[-1]
    assert "unknown backend 'tpu'" in message and "(at <string>" not in message
