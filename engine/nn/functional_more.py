"""More of `torch.nn.functional`: activations, distances and losses a course meets after
the basics, with PyTorch's names, defaults and formulas.

All are compositions of registry ops (so they differentiate, compile and run on every
backend). Where a formula would evaluate `exp` of a large input on the branch a `where`
discards, the input is clamped first: the discarded branch must stay finite, or its
zero gradient times an infinite derivative would be NaN.
"""

from __future__ import annotations

import math

from ..creation import as_tensor
from ..errors import ArgumentError, ShapeError
from ..ops.composite import clamp_min, expm1
from ..ops.elementwise import abs, exp, log, log1p, minimum, relu, sigmoid, tanh, where
from ..ops.linalg import vector_norm
from ..ops.nn import softmax
from ..ops.shape import broadcast_tensors
from ..ops.slicing import chunk
from ..source import user_source
from ..tensor import Tensor, saves_also

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# ---------------------------------------------------------------------- activations
def in_place(x: Tensor, fn) -> Tensor:
    """`inplace=True`: x takes fn(x) in place and is returned (PyTorch's: refused on a leaf
    that requires grad, and autograd goes through the in-place op as through any)."""
    return x._inplace(fn)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, computed without overflow; linear above `threshold`."""
    bx = x * beta if beta != 1 else x
    smooth = _softplus(bx) * (1.0 / beta) if beta != 1 else _softplus(bx)
    return saves_also("softplus", where(bx > threshold, x, smooth), x)  # as PyTorch's


def _softplus(z: Tensor) -> Tensor:
    """log(1 + e^z) = relu(z) + log1p(e^-|z|), with |z| written so the kinks cancel.

    relu and abs both have a kink at 0; taking |z| by the same side as relu (z > 0)
    makes the derivative at 0 come out as the true 1/2 instead of 0.
    """
    return relu(z) + log1p(exp(-where(z > 0, z, -z)))


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ArgumentError(f"{reduction!r} is not a valid value for reduction "
                        "(use 'mean', 'sum' or 'none')", source=user_source())


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(x, 0.0, 6.0, inplace)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val]; the derivative is 0 at the ends (PyTorch's)."""
    if min_val > max_val:
        raise ArgumentError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                            f"({max_val})", op="hardtanh", source=user_source())
    if inplace:
        return in_place(x, lambda s: hardtanh(s, min_val, max_val))
    return saves_also("hardtanh", where(x <= min_val, min_val, where(x >= max_val, max_val, x)),
                      x)


def _expm1_below_zero(x: Tensor) -> Tensor:
    """e^x - 1 for x <= 0 (inputs above 0 are taken as 0, so exp cannot overflow in the
    branch ELU does not take). expm1, accurate near 0; its gradient is e^x (the tanh
    form 2t / (1 - t) used everywhere cancelled in its gradient below x ~ -10)."""
    return expm1(where(x > 0, 0.0, x))


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    if inplace:
        return in_place(x, lambda s: elu(s, alpha))
    return saves_also("elu", where(x > 0, x, _expm1_below_zero(x) * alpha), x)


def celu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    if inplace:
        return in_place(x, lambda s: celu(s, alpha))
    return saves_also("celu", where(x > 0, x, _expm1_below_zero(x * (1.0 / alpha)) * alpha), x)


def selu(x: Tensor, inplace: bool = False) -> Tensor:
    if inplace:
        return in_place(x, lambda s: selu(s))
    return saves_also("selu", where(x > 0, x, _expm1_below_zero(x) * _SELU_ALPHA) * _SELU_SCALE,
                      x)


def hardsigmoid(x: Tensor, inplace: bool = False) -> Tensor:
    if inplace:
        return in_place(x, lambda s: hardsigmoid(s))
    return saves_also("hardsigmoid",
                      where(x <= -3.0, 0.0, where(x >= 3.0, 1.0, x * (1.0 / 6.0) + 0.5)), x)


def hardswish(x: Tensor, inplace: bool = False) -> Tensor:
    """0 below -3, x above 3, x (x + 3) / 6 between (at the ends, PyTorch's derivatives:
    0 at -3, 1 at 3)."""
    if inplace:
        return in_place(x, lambda s: hardswish(s))
    return where(x <= -3.0, 0.0, where(x >= 3.0, x, x * (x + 3.0) * (1.0 / 6.0)))


def logsigmoid(x: Tensor) -> Tensor:
    return saves_also("logsigmoid", -softplus(-x), x)


def softsign(x: Tensor) -> Tensor:
    return x / (abs(x) + 1.0)


def mish(x: Tensor, inplace: bool = False) -> Tensor:
    if inplace:
        return in_place(x, lambda s: mish(s))
    return x * tanh(softplus(x))


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x, one weight per channel (dim 1) or one for all."""
    if weight.numel() > 1 and x.ndim >= 2:
        weight = weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    return saves_also("prelu", where(x > 0, x, x * weight), x, weight)


def implicit_dim(ndim: int) -> int:
    """The dim softmax, log_softmax and softmin take when called without one (PyTorch's
    legacy choice, with a deprecation warning there)."""
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    return softmax(-x, implicit_dim(x.ndim) if dim is None else dim)


def tanhshrink(x: Tensor) -> Tensor:
    return x - tanh(x)


def threshold(x: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    if inplace:
        return in_place(x, lambda s: _threshold(s, threshold, value))
    return _threshold(x, threshold, value)


def _threshold(x: Tensor, threshold: float, value: float) -> Tensor:
    return saves_also("threshold", where(x > threshold, x, value), x)


def softshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    return saves_also("softshrink", where(x > lambd, x - lambd, where(x < -lambd, x + lambd,
                                                                      0.0)), x)


def hardshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    return saves_also("hardshrink", where(abs(x) > lambd, x, 0.0), x)


def glu(x: Tensor, dim: int = -1) -> Tensor:
    if x.ndim == 0:
        raise ShapeError("glu does not support scalars because halving size must be even",
                         op="glu", source=user_source())
    if x.shape[dim] % 2:
        raise ArgumentError(f"glu: halving dimension {dim} needs an even size, got "
                            f"{x.shape[dim]}", op="glu", source=user_source())
    a, b = chunk(x, 2, dim)
    return a * sigmoid(b)


# ---------------------------------------------------------------------- distances
def normalize(x: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    return x / clamp_min(vector_norm(x, p, dim, keepdim=True), eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps)) along `dim`, after broadcasting x1
    and x2 (PyTorch 2.13's computation; each norm clamped for its value only, so the
    gradient is the unclamped norm's, as there)."""
    x1, x2 = broadcast_tensors(x1, x2)
    n1, n2 = (_clamped_value(vector_norm(x, 2, dim, keepdim=True), eps) for x in (x1, x2))
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def _clamped_value(n: Tensor, eps: float) -> Tensor:
    """n with its value clamped below at eps but its gradient n's (a no-grad clamp_min_)."""
    lifted = clamp_min(n.detach(), eps) - n.detach()
    return n + lifted


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    return vector_norm(x1 - x2 + eps, p, -1, keepdim=keepdim)


# ---------------------------------------------------------------------- losses
def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    if beta < 0:
        raise ArgumentError(f"smooth_l1_loss does not support negative values for beta, got "
                            f"{beta}", op="smooth_l1_loss", source=user_source())
    d = abs(input - target)
    if beta == 0:
        return saves_also("smooth_l1_loss", _reduce(d, reduction), input, target)
    q = minimum(d, beta)  # (the branch not taken stays finite: its gradient is 0, not NaN)
    return saves_also("smooth_l1_loss", _reduce(
        where(d < beta, q * q * (0.5 / beta), d - 0.5 * beta), reduction), input, target)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    if delta <= 0:
        raise ArgumentError(f"huber_loss does not support non-positive values for delta, got "
                            f"{delta}", op="huber_loss", source=user_source())
    d = abs(input - target)
    q = minimum(d, delta)  # (as in smooth_l1_loss)
    return saves_also("huber_loss", _reduce(
        where(d < delta, q * q * 0.5, (d - 0.5 * delta) * delta), reduction), input, target)


def kl_div(input: Tensor, target: Tensor, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) pointwise: target * (log target - input); `input` is
    log-probabilities. 'batchmean' divides the sum by the batch size (the true KL)."""
    if log_target:
        pointwise = exp(target) * (target - input)
    else:
        safe = where(target > 0, target, 1.0)
        pointwise = where(target > 0, target * (log(safe) - input), 0.0)
    if reduction == "batchmean":
        return pointwise.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(pointwise, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        reduction: str = "mean") -> Tensor:
    return _reduce(clamp_min(-target * (input1 - input2) + margin, 0.0), reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         reduction: str = "mean") -> Tensor:
    hinge = clamp_min(margin - input, 0.0)
    return _reduce(where(target == 1, input, 0.0) + where(target == -1, hinge, 0.0), reduction)


def soft_margin_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    return saves_also("soft_margin_loss", _reduce(softplus(-target * input), reduction), input,
                      target)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          reduction: str = "mean") -> Tensor:
    eps = 1e-12  # PyTorch's, on the squared norms
    dim = input1.ndim - 1
    dot = (input1 * input2).sum(dim)
    mag = ((input1 * input1).sum(dim) + eps) * ((input2 * input2).sum(dim) + eps)
    cos = dot / mag.sqrt()
    loss = where(target == 1, 1.0 - cos, 0.0) + where(target == -1,
                                                       clamp_min(cos - margin, 0.0), 0.0)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                        swap: bool = False, reduction: str = "mean") -> Tensor:
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(clamp_min(d_pos - d_neg + margin, 0.0), reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True,
                     full: bool = False, eps: float = 1e-8,
                     reduction: str = "mean") -> Tensor:
    target = as_tensor(target, like=input)
    loss = exp(input) - target * input if log_input else input - target * log(input + eps)
    if full:  # Stirling's term, where target > 1
        safe = where(target > 1, target, 1.0)
        stirling = safe * log(safe) - safe + log(safe * (2 * math.pi)) * 0.5
        loss = loss + where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    var = as_tensor(var, like=input)
    if var.shape != input.shape:  # PyTorch's rule: one var per row, or per element
        if var.ndim == input.ndim - 1 and var.shape == input.shape[:-1]:
            var = var.unsqueeze(-1)
        elif not (var.ndim == input.ndim and var.shape[:-1] == input.shape[:-1]
                  and var.shape[-1] == 1):
            raise ShapeError(f"gaussian_nll_loss: var is of incorrect size {list(var.shape)} "
                             f"for an input of shape {list(input.shape)}",
                             op="gaussian_nll_loss", source=user_source())
    # (on the array: a constant var made inside a traced step is concrete, but an op on
    # it is traced)
    if var._value is not None and (var._backend.to_numpy(var._value) < 0).any():
        raise ArgumentError("gaussian_nll_loss: var has negative entry/entries",
                            op="gaussian_nll_loss", source=user_source())
    # clamped for stability without changing the gradient (PyTorch clamps under no_grad)
    var = var + (clamp_min(var, eps) - var).detach()
    loss = (log(var) + (input - target) ** 2 / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


__all__ = [
    "relu6", "hardtanh", "elu", "celu", "selu", "hardsigmoid", "hardswish", "logsigmoid",
    "softsign", "mish", "prelu", "softmin", "tanhshrink", "threshold", "softshrink",
    "hardshrink", "glu", "normalize", "cosine_similarity", "pairwise_distance",
    "smooth_l1_loss", "huber_loss", "kl_div", "margin_ranking_loss", "hinge_embedding_loss",
    "soft_margin_loss", "cosine_embedding_loss", "triplet_margin_loss", "poisson_nll_loss",
    "gaussian_nll_loss",
]
