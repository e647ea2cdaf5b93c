"""Layer and group normalization and embeddings as functions (PyTorch 2.13's signatures).

Layer normalization is one op (`layer_norm`, with a fused backward); group
normalization and embeddings are compositions of existing ops (mean, var, index,
where), so they run eagerly and traced alike and their gradients come from the ops'
rules. Batch normalization, which also updates running statistics, is
`functional.batch_norm`.
"""

from __future__ import annotations

import numpy as np

from .. import grad_mode
from ..creation import ones_like
from ..errors import ArgumentError, DtypeError, ShapeError, UnsupportedError
from ..ops.composite import rsqrt
from ..ops.elementwise import where
from ..ops.nn import check_index
from ..ops.normalization import layer_norm_op
from ..ops.slicing import pad
from ..source import user_source
from ..tensor import Tensor
from .functional_conv import avg_pool2d

__all__ = ["layer_norm", "group_norm", "embedding", "rms_norm", "instance_norm",
           "local_response_norm"]


def normalize(x: Tensor, axes: tuple[int, ...], eps: float) -> Tensor:
    """(x - mean) / sqrt(var + eps) over `axes`, with the biased variance (as PyTorch)."""
    mean = x.mean(axes, keepdim=True)
    var = x.var(axes, unbiased=False, keepdim=True)
    return (x - mean) / (var + eps).sqrt()


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the last len(normalized_shape) dims, then scale and shift: one op
    forward and one backward (engine/ops/normalization.py), as PyTorch's native one."""
    shape = (int(normalized_shape),) if isinstance(normalized_shape, int) \
        else tuple(int(s) for s in normalized_shape)
    if input.ndim < len(shape) or tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise ShapeError(f"layer_norm: input of shape {input.shape} does not end in "
                         f"normalized_shape {shape}", op="layer_norm", source=user_source())
    if not shape:
        raise ShapeError("layer_norm: normalized_shape must name at least one dim",
                         op="layer_norm", source=user_source())
    if weight is None and bias is not None:  # the op takes a bias only after a weight
        weight = ones_like(bias)
    operands, attrs = (input,) + tuple(t for t in (weight, bias) if t is not None), \
        {"dims": len(shape), "eps": float(eps)}
    return layer_norm_op(*operands, **attrs)  # (a checked op: its rule runs eagerly too)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize each sample over groups of channels (and all spatial positions)."""
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise ShapeError(f"group_norm: expected an (N, C, *) input with C divisible by "
                         f"num_groups={num_groups}, got shape {input.shape}", op="group_norm",
                         source=user_source())
    n, c = input.shape[:2]
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != c:
            raise ShapeError(f"group_norm: {name} of shape {t.shape} for an input of {c} "
                             f"channels (shape {input.shape})", op="group_norm",
                             source=user_source())
    grouped = input.reshape(n, num_groups, -1)
    out = normalize(grouped, (2,), eps).reshape(input.shape)
    per_channel = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(per_channel)
    return out if bias is None else out + bias.reshape(per_channel)


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the trailing `normalized_shape` dims, then scaled
    (Zhang & Sennrich, 2019); eps=None is the input dtype's machine epsilon, as PyTorch."""
    shape = (int(normalized_shape),) if isinstance(normalized_shape, int) \
        else tuple(int(s) for s in normalized_shape)
    if input.ndim < len(shape) or tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise ShapeError(f"rms_norm: input of shape {tuple(input.shape)} does not end in "
                         f"normalized_shape {shape}", op="rms_norm", source=user_source())
    if eps is None:
        eps = float(np.finfo(str(input.dtype)).eps)
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    out = input * rsqrt((input * input).mean(axes, keepdim=True) + eps)
    return out if weight is None else out * weight


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each (sample, channel) over its spatial positions (Ulyanov et al., 2016).

    With running statistics and `use_input_stats`, they are updated in place (no_grad)
    with the batch mean of the instances' means and unbiased variances, PyTorch's rule;
    without `use_input_stats` the running statistics normalize.
    """
    if input.ndim < 3:
        raise ShapeError(f"instance_norm: expected an (N, C, *spatial) input, got shape "
                         f"{tuple(input.shape)}", op="instance_norm", source=user_source())
    axes = tuple(range(2, input.ndim))
    per_channel = (1, input.shape[1]) + (1,) * len(axes)
    if use_input_stats:
        count = int(np.prod(input.shape[2:]))
        if count <= 1:
            raise ShapeError(f"instance_norm: expected more than 1 spatial element when "
                             f"training, got input of shape {tuple(input.shape)}",
                             op="instance_norm", source=user_source())
        mean = input.mean(axes, keepdim=True)
        var = input.var(axes, unbiased=False, keepdim=True)
        if running_mean is not None and momentum:
            with grad_mode.no_grad():
                running_mean.mul_(1.0 - momentum).add_(mean.detach().mean(0).reshape(-1)
                                                       * momentum)
                unbiased = var.detach().mean(0).reshape(-1) * (count / (count - 1))
                running_var.mul_(1.0 - momentum).add_(unbiased * momentum)
    elif running_mean is None:
        raise ArgumentError("instance_norm: expected running_mean and running_var to be "
                            "defined when use_input_stats is false", op="instance_norm",
                            source=user_source())
    else:
        mean, var = running_mean.reshape(per_channel), running_var.reshape(per_channel)
    out = (input - mean) / (var + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(per_channel)
    return out if bias is None else out + bias.reshape(per_channel)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """x / (k + alpha * mean of x^2 over `size` neighbouring channels)^beta (AlexNet's
    LRN, PyTorch's zero-padded channel window)."""
    if input.ndim < 3:
        raise ShapeError(f"local_response_norm: expected 3D or higher dimensionality input, "
                         f"got shape {tuple(input.shape)}", op="local_response_norm",
                         source=user_source())
    n, c = input.shape[:2]
    sq = (input * input).reshape(n, 1, c, -1)
    sq = pad(sq, (0, 0, size // 2, (size - 1) // 2))
    div = avg_pool2d(sq, (size, 1), stride=1).reshape(input.shape)
    return input / (div * alpha + k) ** beta


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` picked by the integer tensor `input`; no gradient flows into row
    `padding_idx` (its output rows are held constant)."""
    unsupported = [name for name, on in (("max_norm", max_norm is not None),
                                         ("scale_grad_by_freq", scale_grad_by_freq),
                                         ("sparse", sparse)) if on]
    if unsupported:
        raise UnsupportedError(f"embedding: {', '.join(unsupported)} is not supported; leave "
                               f"it at its default", op="embedding", source=user_source())
    if input.dtype.kind not in "iu":
        raise DtypeError(f"embedding: indices must be an integer tensor, got {input.dtype}",
                         op="embedding", source=user_source())
    out = weight[check_index(input, weight.shape[0], "embedding")]  # -1 is no last row
    if padding_idx is None:
        return out
    padding_idx = padding_idx_of(padding_idx, weight.shape[0])
    keep = (input != padding_idx).unsqueeze(-1)
    return where(keep, out, out.detach())


def padding_idx_of(padding_idx: int, num_embeddings: int) -> int:
    """A padding_idx in [0, num_embeddings) (negative counts from the end, as PyTorch)."""
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ArgumentError(f"padding_idx must be within num_embeddings ({num_embeddings}), "
                            f"got {padding_idx}", source=user_source())
    return padding_idx % num_embeddings


