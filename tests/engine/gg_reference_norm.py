"""Float64 references for the fused layer_norm and gelu ops and their backward ops, from
PyTorch 2.13's own functions and autograd (an implementation independent of ours)."""

import numpy as np
import torch
import torch.nn.functional as TF


def _t(a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def _layer_norm(x, *affine, dims, eps):
    shape = tuple(np.shape(x)[np.ndim(x) - dims:])
    w, b = (list(map(_t, affine)) + [None, None])[:2]
    return TF.layer_norm(_t(x), shape, w, b, eps).numpy()


def _layer_norm_backward(g, x, *weight, dims, eps, bias):
    shape = tuple(np.shape(x)[np.ndim(x) - dims:])
    tx = _t(x, True)
    tw = _t(weight[0], True) if weight else None
    tb = torch.zeros(shape, dtype=torch.float64, requires_grad=True) if bias else None
    out = TF.layer_norm(tx, shape, tw, tb, eps)
    wrt = [t for t in (tx, tw, tb) if t is not None]
    grads = torch.autograd.grad(out, wrt, _t(g))
    return np.concatenate([gr.numpy().reshape(-1) for gr in grads])


def _gelu_backward(g, x, approximate):
    tx = _t(x, True)
    (grad,) = torch.autograd.grad(TF.gelu(tx, approximate=approximate), [tx], _t(g))
    return grad.numpy()


NORM_REFERENCE = {
    "layer_norm": _layer_norm,
    "layer_norm_backward": _layer_norm_backward,
    "gelu": lambda x, approximate: TF.gelu(_t(x), approximate=approximate).numpy(),
    "gelu_backward": _gelu_backward,
}
