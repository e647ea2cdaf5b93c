"""Functional forms of a few layers: dropout (elementwise and channel-wise: dropout1d,
dropout2d) and the bilinear form (F.bilinear), compositions of registry ops with
PyTorch's semantics.
"""

from __future__ import annotations

import numbers
import warnings

from .. import dtypes
from ..creation import rand
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..ops.linalg import einsum
from ..source import user_frame, user_source
from ..tensor import Tensor

# (dropout itself is listed in functional.py)
__all__ = ["dropout1d", "dropout2d", "bilinear", "alpha_dropout", "feature_alpha_dropout"]


def check_dropout_p(p) -> float:
    """p as a float in [0, 1], or the error PyTorch gives (Dropout(2), Dropout("a"))."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise ArgumentTypeError(f"dropout probability must be a float, got "
                                f"{type(p).__name__} {p!r:.30}", op="dropout",
                                source=user_source())
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"dropout probability has to be between 0 and 1, but got {p}",
                            op="dropout", source=user_source())
    return float(p)


def _warn_user(message: str) -> None:
    """A UserWarning pointing at the user's line, as PyTorch's stacklevel=2 does."""
    frame = user_frame()
    if frame is None:
        warnings.warn(message, UserWarning, stacklevel=3)
        return
    warnings.warn_explicit(message, UserWarning, frame.f_code.co_filename, frame.f_lineno,
                           module=frame.f_globals.get("__name__"),
                           registry=frame.f_globals.setdefault("__warningregistry__", {}))


def _masked(x: Tensor, p: float, training: bool, mask_shape: tuple) -> Tensor:
    """x times a kept-with-probability-(1-p) mask of `mask_shape` (broadcast), / (1-p)."""
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    noise = rand(*mask_shape, dtype=x.dtype if dtypes.is_float(x.dtype) else None)
    if noise._value is not None and noise._backend is not x._backend:
        noise = noise.to(x._backend.name)
    return x * (noise >= p) * (1.0 / (1.0 - p))


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only).

    The mask comes from `gg.rand`, an op, so a compiled step draws a fresh mask each call,
    in the same order as eager code.
    """
    if inplace:
        return x._inplace(lambda s: dropout(s, p, training))
    return _masked(x, check_dropout_p(p), training, tuple(x.shape))


def _feature_dropout(x: Tensor, p: float, training: bool, batched: bool) -> Tensor:
    """Zero whole channels: one draw per (sample, channel), broadcast over the rest."""
    lead = 2 if batched else 1
    return _masked(x, p, training, tuple(x.shape[:lead]) + (1,) * (x.ndim - lead))


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero entire channels of an (N, C, L) or (C, L) input with probability p."""
    p = check_dropout_p(p)
    if input.ndim not in (2, 3):
        raise ShapeError(f"dropout1d: expected a 2D or 3D input, got shape "
                         f"{tuple(input.shape)}", op="dropout1d", source=user_source())
    return _feature_dropout(input, p, training, input.ndim == 3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero entire channels of an (N, C, H, W) input with probability p.

    As PyTorch does (and warns about), a 3D input is read as (N, C, L), not (C, H, W).
    """
    p = check_dropout_p(p)
    if input.ndim not in (3, 4):
        _warn_user(f"dropout2d: Received a {input.ndim}-D input to dropout2d; use dropout "
                   "instead")
    elif input.ndim == 3:
        _warn_user("dropout2d: Received a 3D input to dropout2d and assuming that "
                   "channel-wise 1D dropout behavior is desired - input is interpreted as "
                   "shape (N, C, L)")
    return _feature_dropout(input, p, training, input.ndim > 1)


#: SELU's negative saturation value, -lambda * alpha (Klambauer et al., 2017).
_SELU_ALPHA = 1.7580993408473766


def _alpha_dropout(x: Tensor, p: float, training: bool, mask_shape: tuple) -> Tensor:
    """Dropped units take SELU's saturation value, then an affine map a x + b restores
    zero mean and unit variance (PyTorch's constants)."""
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = rand(*mask_shape, dtype=x.dtype if dtypes.is_float(x.dtype) else None) >= p
    if keep._value is not None and keep._backend is not x._backend:
        keep = keep.to(x._backend.name)
    a = 1.0 / ((_SELU_ALPHA ** 2 * p + 1) * (1 - p)) ** 0.5
    keep = keep.astype(x.dtype)
    return x * keep * a + (keep - 1.0) * (_SELU_ALPHA * a) + _SELU_ALPHA * a * p


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout for self-normalizing (SELU) networks: keeps mean 0 and variance 1."""
    return _alpha_dropout(input, check_dropout_p(p), training, tuple(input.shape))


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """alpha_dropout of whole channels (one draw per sample and channel)."""
    p = check_dropout_p(p)
    if input.ndim < 2:
        raise ShapeError(f"feature_alpha_dropout: expected an (N, C, *) input, got shape "
                         f"{tuple(input.shape)}", op="feature_alpha_dropout",
                         source=user_source())
    return _alpha_dropout(input, p, training, tuple(input.shape[:2]) + (1,) * (input.ndim - 2))


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Tensor | None = None) -> Tensor:
    """y_o = x1^T W_o x2 + b_o over any leading dims (torch.nn.functional.bilinear)."""
    o, i1, i2 = weight.shape
    if input1.shape[-1] != i1 or input2.shape[-1] != i2 or \
            tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise ShapeError(f"bilinear: inputs of shapes {tuple(input1.shape)} and "
                         f"{tuple(input2.shape)} do not fit weight {tuple(weight.shape)}",
                         op="bilinear", source=user_source())
    lead = tuple(input1.shape[:-1])
    a, b = input1.reshape(-1, i1), input2.reshape(-1, i2)
    y = einsum("bi,oij,bj->bo", a, weight, b)
    if bias is not None:
        y = y + bias
    return y.reshape(*lead, o)
