"""`gg.nn.functional`: layers and losses as functions (PyTorch's names and formulas).

Everything here is a composition of Tensor ops with no Python branch on tensor values,
so the same code runs eagerly and inside `gg.compile`. Branches on shapes, dtypes and
hyperparameters are fine: those are fixed when a step is traced.
"""

from __future__ import annotations

import numbers
import warnings

from .. import dtypes, grad_mode
from ..creation import as_tensor
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..ops.activation import gelu_op
from ..ops.common import promote_float
from ..ops.elementwise import abs as _abs
from ..ops.elementwise import relu as _relu
from ..ops.elementwise import sigmoid, tanh, where
from ..ops.loss import REDUCTIONS, binary_cross_entropy_op, nll_loss_op
from ..ops.nn import gather, one_hot  # noqa: F401  (re-exported, as in torch.nn.functional)
from ..ops.nn import log_softmax as _log_softmax
from ..ops.nn import softmax as _softmax
from ..ops.slicing import pad  # noqa: F401  (re-exported, as in torch.nn.functional)
from ..source import user_frame, user_source
from ..tensor import Tensor, saves_also
from .adaptive_max_pool import adaptive_max_pool1d, adaptive_max_pool2d  # noqa: F401
from .conv_transpose import conv_transpose1d, conv_transpose2d  # noqa: F401  (re-exported)
from .fold import fold, unfold  # noqa: F401  (re-exported)
from .functional_attention import scaled_dot_product_attention  # noqa: F401
from .functional_conv import (  # noqa: F401  (re-exported: F.conv2d, F.max_pool2d, ...)
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    lp_pool1d,
    lp_pool2d,
    max_pool1d,
    max_pool2d,
)
from .functional_layers import *  # noqa: F403  (re-exported: dropout1d/2d, bilinear)
from .functional_layers import __all__ as _layers
from .functional_layers import check_dropout_p, dropout  # noqa: F401
from .functional_more import *  # noqa: F403  (re-exported: more activations and losses)
from .functional_more import __all__ as _more
from .functional_more import _reduce, _softplus, elu, hardtanh, implicit_dim, in_place, softplus
from .functional_norm import (  # noqa: F401  (re-exported)
    embedding,
    group_norm,
    instance_norm,
    layer_norm,
    local_response_norm,
    rms_norm,
)
from .upsampling import (  # noqa: F401  (re-exported: F.interpolate, F.pixel_shuffle, ...)
    channel_shuffle,
    interpolate,
    pixel_shuffle,
    pixel_unshuffle,
    upsample,
    upsample_bilinear,
    upsample_nearest,
)

__all__ = [
    "relu", "relu_", "leaky_relu", "leaky_relu_", "elu_", "hardtanh_", "sigmoid", "tanh",
    "gelu", "silu", "softplus", "softmax",
    "log_softmax", "linear", "dropout", "batch_norm", "flatten", "one_hot", "mse_loss",
    "l1_loss", "nll_loss", "cross_entropy", "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "layer_norm", "group_norm", "embedding",
    "scaled_dot_product_attention", "pad", "interpolate", "upsample", "pixel_shuffle",
    "pixel_unshuffle", "adaptive_max_pool1d", "adaptive_max_pool2d", "conv_transpose1d",
    "conv_transpose2d", "instance_norm", "rms_norm", "unfold", "fold",
    "local_response_norm", "channel_shuffle", "upsample_nearest", "upsample_bilinear",
    "lp_pool1d", "lp_pool2d",
] + _more + _layers


# ---------------------------------------------------------------------- activations

def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return in_place(input, _relu) if inplace else _relu(input)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x (saving x for backward, as PyTorch's)."""
    if inplace:
        return in_place(x, lambda s: leaky_relu(s, negative_slope))
    return saves_also("leaky_relu", where(x > 0, x, x * negative_slope), x)


def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), exactly (erf) or with PyTorch's tanh approximation: one op forward,
    one backward (engine/ops/activation.py), saving x as PyTorch's gelu does."""
    if approximate not in ("none", "tanh"):
        raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}",
                            source=user_source())
    (x,) = promote_float(x)
    return gelu_op(x, approximate=approximate)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    if inplace:
        return in_place(x, silu)
    return x * sigmoid(x)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    """Without `dim`, PyTorch's legacy choice of dim (implicit_dim); `dtype`: the input is
    cast to it first (as PyTorch's, to avoid overflow in a narrow dtype)."""
    x = input if dtype is None else input.to(dtype)
    return _softmax(x, implicit_dim(x.ndim) if dim is None else dim)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype=None) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    return _log_softmax(x, implicit_dim(x.ndim) if dim is None else dim)


# ---------------------------------------------------------------------- layers

def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias (weight has shape (out_features, in_features))."""
    out = x @ weight.T
    return out if bias is None else out + bias


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return x.flatten(start_dim, end_dim)


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float | None = 0.1, eps: float = 1e-5,
               num_batches_tracked: Tensor | None = None) -> Tensor:
    """Normalize over every dim but 1 (the channels); update running stats when training.

    Running statistics are updated in place under no_grad (unbiased variance, PyTorch's
    rule). `momentum=None` means a cumulative average, 1/num_batches_tracked.
    """
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expected at least 2D input (got {x.ndim}D input)",
                         op="batch_norm", source=user_source())
    axes = (0,) + tuple(range(2, x.ndim))
    stat_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != x.shape[1]:
            raise ShapeError(f"batch_norm: {name} of shape {t.shape} for an input of "
                             f"{x.shape[1]} channels (shape {x.shape})", op="batch_norm",
                             source=user_source())
    if training and x.numel() // max(x.shape[1], 1) <= 1:
        raise ShapeError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}", op="batch_norm", source=user_source())
    if training and running_mean is not None and momentum is None and \
            num_batches_tracked is None:
        raise ArgumentError("batch_norm: momentum=None (a cumulative average) needs "
                            "num_batches_tracked, the count of batches seen (the BatchNorm "
                            "modules pass theirs); give a float momentum", source=user_source())
    if training or running_mean is None:
        mean = x.mean(axes, keepdim=True)
        var = x.var(axes, unbiased=False, keepdim=True)
        if training and running_mean is not None:
            _update_running(x, mean, var, running_mean, running_var, momentum,
                            num_batches_tracked)
    else:
        mean, var = running_mean.reshape(stat_shape), running_var.reshape(stat_shape)
    out = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(stat_shape)
    if bias is not None:
        out = out + bias.reshape(stat_shape)
    return out


def _update_running(x, mean, var, running_mean, running_var, momentum, num_batches_tracked):
    n = x.numel() // x.shape[1]
    with grad_mode.no_grad():
        if num_batches_tracked is not None:
            num_batches_tracked.add_(1)
        factor = momentum if momentum is not None else \
            1.0 / num_batches_tracked.astype(running_mean.dtype)
        c = running_mean.shape
        running_mean.mul_(1.0 - factor).add_(mean.detach().reshape(c) * factor)
        unbiased = var.detach().reshape(c) * (n / (n - 1))
        running_var.mul_(1.0 - factor).add_(unbiased * factor)


# ---------------------------------------------------------------------- losses

def _warn_if_broadcast(input: Tensor, target: Tensor, op: str) -> None:
    """PyTorch's warning for a target whose size differs from the input's: (N, 1) against
    (N,) broadcasts to an (N, N) loss, almost never what was meant."""
    if tuple(input.shape) == tuple(target.shape):
        return
    message = (f"{op}: Using a target size ({tuple(target.shape)}) that is different to the "
               f"input size ({tuple(input.shape)}). This will likely lead to incorrect results "
               "due to broadcasting. Please ensure they have the same size.")
    frame = user_frame()
    if frame is None:
        warnings.warn(message, UserWarning, stacklevel=3)
        return
    warnings.warn_explicit(message, UserWarning, frame.f_code.co_filename, frame.f_lineno,
                           module=frame.f_globals.get("__name__"),
                           registry=frame.f_globals.setdefault("__warningregistry__", {}))


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error, (input - target)^2 reduced (warns on a broadcasting target)."""
    target = as_tensor(target, like=input)
    _warn_if_broadcast(input, target, "mse_loss")
    diff = input - target
    return saves_also("mse_loss", _reduce(diff * diff, reduction), input, target)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error, |input - target| reduced (warns on a broadcasting target)."""
    target = as_tensor(target, like=input)
    _warn_if_broadcast(input, target, "l1_loss")
    return _reduce(_abs(input - target), reduction)


def _check_targets(input: Tensor, target: Tensor, op: str) -> None:
    expected = input.shape[:1] + input.shape[2:]
    if target.shape != expected:
        raise ShapeError(f"{op}: input of shape {input.shape} (batch, classes, ...) needs "
                         f"class-index targets of shape {expected}, got {target.shape}",
                         op=op, source=user_source())
    if target.dtype.kind not in "iu":
        raise ShapeError(f"{op}: class-index targets must be integers (int64), got "
                         f"{dtypes.short(target.dtype)}", op=op, source=user_source())


def _check_class_weight(weight: Tensor | None, n_classes: int, op: str) -> None:
    if weight is not None and tuple(weight.shape) != (n_classes,):
        raise ShapeError(f"{op}: weight tensor should be defined either for all {n_classes} "
                         f"classes or no classes but got weight tensor of shape: "
                         f"{list(weight.shape)}", op=op, source=user_source())


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             ignore_index: int | None = -100, reduction: str = "mean") -> Tensor:
    """-input[i, target[i]] (input holds log-probabilities, classes along dim 1).

    With `weight`, each term is scaled by weight[target] and 'mean' divides by the sum
    of those weights. Targets equal to `ignore_index` (PyTorch's -100 by default, the
    usual padding value) count for nothing, in the sum and in the mean's divisor.
    A (batch, classes) input is one `nll_loss` op (ops/loss.py); K-dim inputs, and class
    weights that require grad (PyTorch gives them none), take the composed path below.
    """
    target = as_tensor(target, like=input)
    if input.ndim == 1:  # one unbatched sample
        out = nll_loss(input.unsqueeze(0), target.reshape(1), weight, ignore_index, reduction)
        return out.reshape(()) if reduction == "none" else out
    _check_targets(input, target, "nll_loss")
    _check_class_weight(weight, input.shape[1], "nll_loss")
    if _fused_nll_applies(input, weight, ignore_index, reduction):
        weights = () if weight is None else (weight,)
        return nll_loss_op(input, target, *weights, reduction=reduction,
                           ignore_index=None if ignore_index is None else int(ignore_index))
    keep, safe = _kept(target, ignore_index)
    picked = -gather(input, 1, safe.unsqueeze(1)).squeeze(1)
    w = _target_weights(weight, safe, keep, input.dtype)
    if w is not None:
        picked = picked * w
    if reduction == "mean" and w is not None:
        return picked.sum() / w.sum()
    return _reduce(picked, reduction)


def _fused_nll_applies(input, weight, ignore_index, reduction) -> bool:
    """Whether the one-op nll_loss computes this call: a float (batch, classes) input,
    a plain reduction, and class weights of the input's dtype that need no gradient
    (PyTorch gives none; the composed path below does, so it keeps that case)."""
    return (input.ndim == 2 and dtypes.is_float(input.dtype) and reduction in REDUCTIONS
            and (ignore_index is None or isinstance(ignore_index, numbers.Integral))
            and (weight is None or (weight.dtype == input.dtype and not weight.requires_grad)))


def _kept(target, ignore_index):
    """(mask of targets that count or None, targets safe to index with).

    Eagerly, a batch without any ignored target skips the masking (the same numbers,
    five ops fewer); a traced step must mask, since its targets change per call.
    """
    if ignore_index is None:
        return None, target
    if target._value is not None and \
            not (target._backend.to_numpy(target._value) == ignore_index).any():
        return None, target
    keep = target != ignore_index
    return keep, where(keep, target, 0)


def _target_weights(weight, target, keep, dtype):
    w = None if weight is None else weight[target]
    if keep is not None:
        k = keep.astype(dtype)
        w = k if w is None else w * k
    return w


def check_label_smoothing(label_smoothing) -> float:
    """label_smoothing as a float in [0, 1], or an error naming it (PyTorch's range)."""
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise ArgumentTypeError(f"cross_entropy: label_smoothing must be a float in [0, 1], "
                                f"got {type(label_smoothing).__name__}", op="cross_entropy",
                                source=user_source())
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got "
                            f"{label_smoothing}", op="cross_entropy", source=user_source())
    return float(label_smoothing)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  ignore_index: int | None = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over dim 1 followed by nll_loss, with PyTorch's label smoothing.

    `target` holds class indices (int64, shape (N, ...)) or, if it is a float tensor of
    the input's shape, class probabilities.
    """
    label_smoothing = check_label_smoothing(label_smoothing)
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    _check_class_weight(weight, n_classes, "cross_entropy")
    logp = _log_softmax(input, class_dim)
    target = as_tensor(target, like=input)
    if dtypes.is_float(target.dtype):
        if ignore_index is not None and ignore_index != -100:
            raise ArgumentError("cross_entropy: ignore_index is not supported for floating "
                                "point target (class probabilities)", op="cross_entropy",
                                source=user_source())
        return _soft_cross_entropy(logp, target, weight, reduction, label_smoothing, class_dim)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return nll
    if input.ndim == 1:
        logp, target = logp.unsqueeze(0), target.reshape(1)
    keep, safe = _kept(target, ignore_index)
    w_shape = (1, n_classes) + (1,) * (logp.ndim - 2)
    weighted = logp if weight is None else logp * weight.reshape(w_shape)
    smooth = -weighted.sum(1)
    if keep is not None:
        smooth = where(keep, smooth, 0.0)
    if reduction == "mean":
        w = _target_weights(weight, safe, keep, logp.dtype)
        smooth = smooth.sum() / (w.sum() if w is not None else smooth.numel())
    else:
        smooth = _reduce(smooth, reduction)
        if input.ndim == 1 and reduction == "none":
            smooth = smooth.reshape(())
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / n_classes)


def _soft_cross_entropy(logp, target, weight, reduction, label_smoothing, class_dim):
    if target.shape != logp.shape:
        raise ShapeError(f"cross_entropy: probability targets must have the input's shape "
                         f"{logp.shape}, got {target.shape}", op="cross_entropy",
                         source=user_source())
    n_classes = logp.shape[class_dim]
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / n_classes
    terms = logp * target
    if weight is not None:
        terms = terms * weight.reshape((n_classes,) + (1,) * (logp.ndim - class_dim - 1))
    return _reduce(-terms.sum(class_dim), reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """-(t log p + (1 - t) log(1 - p)), PyTorch's op: each log clamped at -100, and the
    gradient (p - t) / max(p (1 - p), 1e-12), so p = 0 or 1 gives finite values and grads.

    As in PyTorch, a target of another size is an error (not a broadcast), and so is a
    probability outside [0, 1] (checked here eagerly, and by the kernel in a compiled plan).
    """
    target = as_tensor(target, like=input)
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(f"binary_cross_entropy: Using a target size ({tuple(target.shape)}) "
                         f"that is different to the input size ({tuple(input.shape)}) is "
                         "deprecated. Please ensure they have the same size.",
                         op="binary_cross_entropy", source=user_source())
    if input._value is not None:
        _check_probabilities(input)
    loss = binary_cross_entropy_op(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _check_probabilities(input: Tensor) -> None:
    values = input._backend.to_numpy(input._value)
    if values.size and not ((values >= 0) & (values <= 1)).all():
        raise ArgumentError(f"binary_cross_entropy: all elements of input should be between 0 "
                            f"and 1, got values in [{values.min()}, {values.max()}] "
                            f"(input {dtypes.short(input.dtype)}{list(input.shape)}); apply "
                            "sigmoid first, or use BCEWithLogitsLoss on the logits",
                            op="binary_cross_entropy", source=user_source())


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """BCE of sigmoid(input): p t softplus(-x) + (1 - t) softplus(x), p the pos_weight.
    Both terms stay accurate where sigmoid saturates, and so do their gradients,
    -p t sigmoid(-x) + (1 - t) sigmoid(x): the shorter (1 - t) x + softplus(-x) has the
    gradient 1 - sigmoid(-x) at t = 0, which cancels to 0 below x ~ -17."""
    target = as_tensor(target, like=input)
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(f"binary_cross_entropy_with_logits: Target size "
                         f"({tuple(target.shape)}) must be the same as input size "
                         f"({tuple(input.shape)})", op="binary_cross_entropy_with_logits",
                         source=user_source())
    positive = target if pos_weight is None else pos_weight * target
    loss = positive * _softplus(-input) + (1.0 - target) * _softplus(input)
    if weight is not None:
        loss = loss * weight
    return saves_also("binary_cross_entropy_with_logits", _reduce(loss, reduction), input,
                      target, weight, pos_weight)
