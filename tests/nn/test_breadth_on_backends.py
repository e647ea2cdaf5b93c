"""The new layers compiled on the other backends: Numba (whole-plan native code) and CuPy
(the CPU emulation always; a real GPU when present, marked `gpu`).

Oracle: the same module and input run eagerly on NumPy, float32 (rtol 1e-4): output and
input gradient. The layers are compositions of registry ops, so this checks that every
op they lower to has a kernel there and that the plan hands those kernels what they need.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from cupy_emulation import fixtures

import graphgrad as gg
from graphgrad import nn

cupy_backend = fixtures.cupy_backend  # the fixture, under its name here

LAYERS = {
    "conv_transpose": (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1,
                                                  output_padding=1, groups=1), (2, 3, 4, 4)),
    "bilinear_upsample": (lambda: nn.Upsample(scale_factor=1.5, mode="bilinear"), (2, 3, 4, 4)),
    "nearest_upsample": (lambda: nn.Upsample(size=(5, 3)), (2, 3, 4, 4)),
    "adaptive_max_pool": (lambda: nn.AdaptiveMaxPool2d((3, 2)), (2, 3, 7, 5)),
    "instance_norm": (lambda: nn.InstanceNorm2d(3, affine=True), (2, 3, 4, 4)),
    "unfold": (lambda: nn.Unfold(2, padding=1), (2, 3, 4, 4)),
    "pad_pixel_shuffle": (lambda: nn.Sequential(nn.ReflectionPad2d(1), nn.PixelShuffle(2)),
                          (2, 8, 3, 3)),
    "encoder_layer": (lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), (5, 3, 8)),
}


def _step(module):
    def step(x):
        module.zero_grad()
        x.requires_grad_(True)
        out = module(x)
        (out * out).sum().backward()
        return out, x.grad
    return step


def _eager_reference(make, shape):
    gg.manual_seed(0)
    module = make()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out, gx = _step(copy.deepcopy(module))(gg.tensor(x))
    return module, x, out.numpy(), gx.numpy()


def _check(module, x, ref_out, ref_gx, backend):
    module.to(backend)
    out, gx = gg.compile(_step(module), backend=backend)(gg.tensor(x, device=backend))
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gx.numpy(), ref_gx, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_compiled_on_numba_matches_numpy_eager(layer):
    if "numba" not in gg.backends.available():
        pytest.skip("numba backend unavailable")
    module, x, out, gx = _eager_reference(*LAYERS[layer])
    _check(module, x, out, gx, "numba")


@pytest.mark.parametrize("layer", list(LAYERS))
def test_compiled_on_cupy_matches_numpy_eager(layer, cupy_backend):
    module, x, out, gx = _eager_reference(*LAYERS[layer])
    _check(module, x, out, gx, "cupy")
