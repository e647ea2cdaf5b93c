"""nn.MultiheadAttention with PyTorch's parameters (`in_proj_weight`, `in_proj_bias`,
`out_proj.weight`, `out_proj.bias`), initialization, masks and returned weights.

Composed of Tensor ops (linear projections, batched matmuls, softmax), so it runs
eagerly and compiled alike. Masks follow MultiheadAttention's convention, the reverse of
`F.scaled_dot_product_attention`'s: a True in a bool `attn_mask` or `key_padding_mask`
keeps that key *out*.
"""

from __future__ import annotations

import math

from .. import dtypes
from ..creation import as_tensor, empty
from ..errors import ArgumentError, ShapeError, UnsupportedError
from ..ops.elementwise import where
from ..source import user_source
from ..tensor import Tensor
from . import functional as F
from . import init
from .functional_attention import check_mask_dtype, safe_softmax
from .layers import Linear
from .module import Module
from .parameter import Parameter


def _as_additive(mask: Tensor | None, like: Tensor) -> Tensor | None:
    """A bool mask (True: masked out) as -inf/0 of like's dtype; a float one as is."""
    if mask is None or mask.dtype != dtypes.bool_:
        return mask
    return where(mask, as_tensor(float("-inf"), like.dtype, like=like),
                 as_tensor(0.0, like.dtype, like=like))


class NonDynamicallyQuantizableLinear(Linear):
    """MultiheadAttention's output projection: a Linear under the class name PyTorch gives
    it, so a model's repr reads as torch's."""


class MultiheadAttention(Module):
    """Attention over `num_heads` heads of size embed_dim / num_heads (torch semantics)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if add_bias_kv or add_zero_attn or kdim not in (None, embed_dim) \
                or vdim not in (None, embed_dim):
            raise UnsupportedError("MultiheadAttention: add_bias_kv, add_zero_attn and "
                                   "kdim/vdim other than embed_dim are not supported",
                                   source=user_source())
        if embed_dim % num_heads:
            raise ArgumentError(f"embed_dim {embed_dim} must be divisible by num_heads {num_heads}",
                                source=user_source())
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, float(dropout)
        self.head_dim, self.batch_first = embed_dim // num_heads, batch_first
        dt = dtypes.as_dtype(dtype) if dtype is not None else None
        self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, dtype=dt, device=device))
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, dtype=dt, device=device))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        device=device, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def _project(self, query, key, value):
        """q, k, v: one matmul for self-attention, three slices of the weight otherwise."""
        w, b, E = self.in_proj_weight, self.in_proj_bias, self.embed_dim
        if query is key and key is value:
            return F.linear(query, w, b).chunk(3, -1)
        bs = (None,) * 3 if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        return (F.linear(query, w[:E], bs[0]), F.linear(key, w[E:2 * E], bs[1]),
                F.linear(value, w[2 * E:], bs[2]))

    def _heads(self, x: Tensor) -> Tensor:
        n, length = x.shape[0], x.shape[1]
        return x.reshape(n, length, self.num_heads, self.head_dim).transpose(1, 2)

    def _check_inputs(self, query, key, value) -> None:
        """torch's shape checks, in the user's terms (else a matmul or reshape fails)."""
        shapes = [tuple(t.shape) for t in (query, key, value)]
        if query.ndim not in (2, 3) or any(len(s) != query.ndim for s in shapes):
            raise ShapeError(f"MultiheadAttention: query, key and value must all be 2-d "
                             f"(unbatched) or 3-d (batched), got shapes {shapes}",
                             source=user_source())
        if any(s[-1] != self.embed_dim for s in shapes):
            raise ShapeError(f"MultiheadAttention: was built for embed_dim {self.embed_dim}, "
                             f"got query, key and value of shapes {shapes}",
                             source=user_source())
        batch = 0 if self.batch_first else 1
        if query.ndim == 3 and len({s[batch] for s in shapes}) != 1:
            raise ShapeError(f"MultiheadAttention: query, key and value batch sizes differ: "
                             f"{shapes} (batch_first={self.batch_first})", source=user_source())
        if key.shape[:-1] != value.shape[:-1]:
            raise ShapeError(f"MultiheadAttention: key and value shapes {shapes[1]} and "
                             f"{shapes[2]} differ", source=user_source())

    def _mask(self, attn_mask, key_padding_mask, n, L, S, like):
        check_mask_dtype(attn_mask, "MultiheadAttention", "attn_mask")
        check_mask_dtype(key_padding_mask, "MultiheadAttention", "key_padding_mask")
        if attn_mask is not None and tuple(attn_mask.shape) not in (
                (L, S), (n * self.num_heads, L, S)):
            raise ShapeError(f"MultiheadAttention: attn_mask of shape {attn_mask.shape}, "
                             f"expected {(L, S)} or {(n * self.num_heads, L, S)}",
                             source=user_source())
        mask = _as_additive(attn_mask, like)
        if mask is not None and mask.ndim == 3:  # (N * heads, L, S)
            mask = mask.reshape(n, self.num_heads, L, S)
        pad = _as_additive(key_padding_mask, like)
        if pad is not None:
            if pad.shape != (n, S):
                raise ShapeError(f"MultiheadAttention: key_padding_mask of shape {pad.shape}, "
                                 f"expected {(n, S)}", source=user_source())
            pad = pad.reshape(n, 1, 1, S)
            mask = pad if mask is None else mask + pad
        return mask

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False):
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint")
        self._check_inputs(query, key, value)
        batched = query.ndim == 3
        same = query is key and key is value
        if not batched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            key_padding_mask = None if key_padding_mask is None else \
                key_padding_mask.unsqueeze(0)
        if not self.batch_first or not batched:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if same:
            key = value = query
        n, L, S = query.shape[0], query.shape[1], key.shape[1]
        q, k, v = (self._heads(t) for t in self._project(query, key, value))
        scores = (q * (1.0 / math.sqrt(self.head_dim))) @ k.transpose(-2, -1)
        mask = self._mask(attn_mask, key_padding_mask, n, L, S, scores)
        if mask is not None:  # (a fully masked row: zeros without weights, as torch,
            scores = scores + mask  # whose weights, when asked for, hold its NaN)
        weights = F.softmax(scores, -1) if mask is None or need_weights else \
            safe_softmax(scores)
        dropped = F.dropout(weights, self.dropout, self.training) if self.dropout else weights
        out = (dropped @ v).transpose(1, 2).reshape(n, L, self.embed_dim)
        out = self.out_proj(out)
        if not self.batch_first or not batched:
            out = out.transpose(0, 1)
        if not batched:
            out = out.squeeze(1)
        if not need_weights:
            return out, None
        weights = dropped  # (after dropout, as torch returns them)
        weights = weights.mean(1) if average_attn_weights else weights
        return out, (weights if batched else weights.squeeze(0))
