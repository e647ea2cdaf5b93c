"""F.scaled_dot_product_attention: softmax(q k^T * scale + mask) v, PyTorch's function.

A composition of registry ops (matmul, where, softmax, dropout), so it runs eagerly and
compiled alike; nn.MultiheadAttention and the Transformer layers build on the same ops.
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..creation import as_tensor
from ..errors import ArgumentError, DtypeError, ShapeError
from ..ops.elementwise import where
from ..ops.nn import softmax as _softmax
from ..ops.reduction import amax
from ..source import user_source
from ..tensor import Tensor
from .functional_layers import dropout


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q k^T * scale + mask) v over the last two dims, as PyTorch defines it.

    A bool `attn_mask` marks the pairs that may attend (True: take part); a float one is
    added to the scores; `is_causal` lets query i see keys j <= i only. Dropout applies
    whenever `dropout_p > 0`, as in PyTorch (the function has no training flag).
    """
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise ShapeError("scaled_dot_product_attention: query, key and value need at least 2 "
                         f"dims (..., length, features), got shapes {query.shape}, "
                         f"{key.shape}, {value.shape}", op="scaled_dot_product_attention",
                         source=user_source())
    L, S = query.shape[-2], key.shape[-2]
    check_mask_dtype(attn_mask, "scaled_dot_product_attention", "attn_mask")
    if enable_gqa:
        key, value = _grouped(query, key, "key"), _grouped(query, value, "value")
    if is_causal and attn_mask is not None:
        raise ArgumentError("scaled_dot_product_attention: pass attn_mask or is_causal, not both",
                            source=user_source())
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = query @ key.transpose(-2, -1)
    if is_causal:
        attn_mask = as_tensor(np.tri(L, S, dtype=bool), like=query)
    if attn_mask is not None and attn_mask.dtype == dtypes.bool_:  # -inf where masked out
        attn_mask = where(attn_mask, as_tensor(0.0, scores.dtype, like=scores),
                          as_tensor(float("-inf"), scores.dtype, like=scores))
    # scale and mask as one fused elementwise pass over the scores; the mask is added,
    # so its gradient is the identity (no select in the backward pass)
    scores = scores * scale if attn_mask is None else scores * scale + attn_mask
    # a row every key of which is masked out (possible with a mask, or is_causal with
    # more queries than keys) gives zeros, as in PyTorch, not NaN
    masked_rows = attn_mask is not None and not (is_causal and L <= S)
    weights = safe_softmax(scores) if masked_rows else _softmax(scores, -1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return weights @ value


def safe_softmax(scores: Tensor) -> Tensor:
    """softmax over the last dim, where a row of only -inf scores (every key masked out)
    gives zeros and passes no gradient (PyTorch's `_safe_softmax` of attention), rather
    than NaN that the backward pass would spread to every weight."""
    zero = as_tensor(0.0, scores.dtype, like=scores)
    dead = amax(scores, -1, keepdim=True) == float("-inf")
    return where(dead, zero, _softmax(where(dead, zero, scores), -1))


def check_mask_dtype(mask: Tensor | None, op: str, name: str) -> None:
    """Masks are bool (True: attend) or float (added to the scores), as PyTorch requires;
    an integer mask would otherwise be added as numbers."""
    if mask is not None and mask.dtype != dtypes.bool_ and mask.dtype.kind != "f":
        raise DtypeError(f"{op}: {name} must be bool or floating point, got {mask.dtype}",
                         op=op, source=user_source())


def _grouped(query: Tensor, kv: Tensor, name: str) -> Tensor:
    """Grouped-query attention (`enable_gqa`): each of kv's heads (dim -3) serves
    query-heads / kv-heads consecutive query heads, as torch repeat_interleaves them."""
    if query.ndim < 3 or kv.ndim < 3:
        raise ShapeError("scaled_dot_product_attention: enable_gqa needs a heads dim (-3)",
                         op="scaled_dot_product_attention", source=user_source())
    hq, hk = query.shape[-3], kv.shape[-3]
    if hk == hq:
        return kv
    if hk == 0 or hq % hk:
        raise ShapeError(f"scaled_dot_product_attention: {hq} query heads cannot be shared "
                         f"evenly by {hk} {name} heads (enable_gqa)",
                         op="scaled_dot_product_attention", source=user_source())
    lead, (s, e) = kv.shape[:-3], kv.shape[-2:]
    expanded = kv.unsqueeze(-3).expand(*lead, hk, hq // hk, s, e)
    return expanded.reshape(*lead, hq, s, e)
