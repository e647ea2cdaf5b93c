"""Shared by the layer tests against PyTorch: run one module in torch and in graphgrad
from the same weights (torch's state_dict loaded with `load_state_dict`) and inputs,
and compare outputs, input gradients and parameter gradients, eagerly or compiled.

The loss is <out, R> for a fixed random R, so every output element's gradient is
checked, not only their sum's.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

import graphgrad as gg

RTOL, ATOL = 1e-4, 1e-5  # float32


def torch_run(module, x: np.ndarray, r: np.ndarray, int_input=False):
    xt = torch.tensor(x)
    if not int_input:
        xt.requires_grad_(True)
    out = module(xt)
    (out * torch.tensor(r)).sum().backward()
    grads = {k: p.grad.numpy() for k, p in module.named_parameters() if p.grad is not None}
    return out.detach().numpy(), None if int_input else xt.grad.numpy(), grads


def gg_run(module, x: np.ndarray, r: np.ndarray, compiled: bool, int_input=False):
    rt = gg.tensor(r)

    def step(xg):
        module.zero_grad()
        if not int_input:
            xg.requires_grad_(True)
        out = module(xg)
        (out * rt).sum().backward()
        return out, (None if int_input else xg.grad)

    run = gg.compile(step) if compiled else step
    out, gx = run(gg.tensor(x))
    grads = {k: p.grad.numpy() for k, p in module.named_parameters() if p.grad is not None}
    return out.numpy(), None if gx is None else gx.numpy(), grads


def compare(torch_module, gg_module, x: np.ndarray, compiled: bool, int_input=False,
            seed=0) -> None:
    """Load torch's weights into `gg_module`, run both, and assert they agree."""
    gg_module.load_state_dict({k: v.detach().numpy() for k, v in
                               torch_module.state_dict().items()})
    with torch.no_grad():  # on a copy: a training BatchNorm would update its statistics
        shape = copy.deepcopy(torch_module)(torch.tensor(x)).shape
    r = np.random.default_rng(seed + 1).standard_normal(tuple(shape)).astype(np.float32)
    t_out, t_gx, t_grads = torch_run(torch_module, x, r, int_input)
    g_out, g_gx, g_grads = gg_run(gg_module, x, r, compiled, int_input)
    np.testing.assert_allclose(g_out, t_out, rtol=RTOL, atol=ATOL, err_msg="output")
    if t_gx is not None:
        np.testing.assert_allclose(g_gx, t_gx, rtol=RTOL, atol=ATOL, err_msg="input grad")
    assert g_grads.keys() == t_grads.keys()
    for k in t_grads:
        np.testing.assert_allclose(g_grads[k], t_grads[k], rtol=RTOL, atol=ATOL,
                                   err_msg=f"grad of {k}")
    for k, v in torch_module.state_dict().items():  # buffers updated alike (BatchNorm)
        np.testing.assert_allclose(gg_module.state_dict()[k].numpy(), v.numpy(), rtol=RTOL,
                                   atol=ATOL, err_msg=f"buffer {k}")


def rand(*shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
