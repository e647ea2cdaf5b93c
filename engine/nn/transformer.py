"""The Transformer stack (Vaswani et al., 2017) with PyTorch 2.13's classes, arguments,
submodule names (so state_dict keys, and thus weights, carry across) and forward order:
TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer, TransformerDecoder,
Transformer and generate_square_subsequent_mask.

Built on nn.MultiheadAttention, Linear, LayerNorm and Dropout. Masks take PyTorch's
conventions (bool: True keeps a position *out*; float: added to the scores). The
`is_causal` flags are hints in PyTorch, which always applies the mask it is given; here
too, and a causal hint without a mask is an error, as in PyTorch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from .. import dtypes
from ..creation import as_tensor
from ..errors import ArgumentError, ShapeError
from ..source import user_source
from ..tensor import Tensor
from . import functional as F
from .attention import MultiheadAttention
from .container import ModuleList
from .init import xavier_uniform_
from .layers import Linear
from .module import Module
from .normalization import LayerNorm
from .regularization import Dropout


def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
    """(sz, sz) float mask: -inf above the diagonal (future positions), 0 elsewhere."""
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_float
    out = as_tensor(np.triu(np.full((sz, sz), -np.inf), 1), dtype=dt)
    return out if device is None else out.to(device)


def _activation(activation) -> Callable:
    if not isinstance(activation, str):
        if not callable(activation):
            raise ArgumentError(f"activation should be 'relu', 'gelu' or a callable, not "
                                f"{activation!r}", source=user_source())
        return activation
    if activation not in ("relu", "gelu"):
        raise ArgumentError(f"activation should be relu/gelu, not {activation}",
                            source=user_source())
    return F.relu if activation == "relu" else F.gelu


def _check_causal(is_causal: bool | None, mask, name: str) -> None:
    if is_causal and mask is None:
        raise ArgumentError(f"{name}: is_causal=True is a hint that the mask is causal and "
                            "needs the mask itself (pass generate_square_subsequent_mask(L))",
                            source=user_source())


class _Block(Module):
    """The parts both layer kinds share: attention, feed-forward, norms and dropouts,
    created in PyTorch's order so the repr and state_dict read as torch's."""

    def _attention(self, name, d_model, nhead, dropout, bias, batch_first, device, dtype):
        setattr(self, name, MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                               batch_first=batch_first, device=device,
                                               dtype=dtype))

    def _feed_forward(self, d_model, dim_feedforward, dropout, bias, device, dtype):
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, device=device, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, device=device, dtype=dtype)

    def _norms_and_dropouts(self, n, d_model, eps, bias, dropout, device, dtype):
        for i in range(1, n + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=eps, bias=bias, device=device,
                                                dtype=dtype))
        for i in range(1, n + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))

    def _ff_block(self, x: Tensor, dropout: Module) -> Tensor:
        return dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _attend(self, attn, x, mem, mask, padding_mask, is_causal, dropout) -> Tensor:
        out = attn(x, mem, mem, attn_mask=mask, key_padding_mask=padding_mask,
                   need_weights=False, is_causal=bool(is_causal) and mask is not None)[0]
        return dropout(out)


class TransformerEncoderLayer(_Block):
    """Self-attention then a feed-forward block, each with a residual connection and
    LayerNorm after it (or before it, with norm_first)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self._attention("self_attn", d_model, nhead, dropout, bias, batch_first, device, dtype)
        self._feed_forward(d_model, dim_feedforward, dropout, bias, device, dtype)
        self.norm_first = norm_first
        self._norms_and_dropouts(2, d_model, layer_norm_eps, bias, dropout, device, dtype)
        self.activation = _activation(activation)

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        _check_causal(is_causal, src_mask, "TransformerEncoderLayer")
        x = src
        if self.norm_first:
            h = self.norm1(x)
            x = x + self._attend(self.self_attn, h, h, src_mask, src_key_padding_mask,
                                 is_causal, self.dropout1)
            return x + self._ff_block(self.norm2(x), self.dropout2)
        x = self.norm1(x + self._attend(self.self_attn, x, x, src_mask, src_key_padding_mask,
                                        is_causal, self.dropout1))
        return self.norm2(x + self._ff_block(x, self.dropout2))


class TransformerDecoderLayer(_Block):
    """Self-attention over the target, attention over the encoder's memory, then a
    feed-forward block; residuals and LayerNorms as in the encoder layer."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self._attention("self_attn", d_model, nhead, dropout, bias, batch_first, device, dtype)
        self._attention("multihead_attn", d_model, nhead, dropout, bias, batch_first, device,
                        dtype)
        self._feed_forward(d_model, dim_feedforward, dropout, bias, device, dtype)
        self.norm_first = norm_first
        self._norms_and_dropouts(3, d_model, layer_norm_eps, bias, dropout, device, dtype)
        self.activation = _activation(activation)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        _check_causal(tgt_is_causal, tgt_mask, "TransformerDecoderLayer")
        _check_causal(memory_is_causal, memory_mask, "TransformerDecoderLayer")
        x = tgt
        sa = (self.self_attn, tgt_mask, tgt_key_padding_mask, tgt_is_causal, self.dropout1)
        ca = (self.multihead_attn, memory_mask, memory_key_padding_mask, memory_is_causal,
              self.dropout2)
        if self.norm_first:
            h = self.norm1(x)
            x = x + self._attend(sa[0], h, h, *sa[1:])
            x = x + self._attend(ca[0], self.norm2(x), memory, *ca[1:])
            return x + self._ff_block(self.norm3(x), self.dropout3)
        x = self.norm1(x + self._attend(sa[0], x, x, *sa[1:]))
        x = self.norm2(x + self._attend(ca[0], x, memory, *ca[1:]))
        return self.norm3(x + self._ff_block(x, self.dropout3))


def _clones(layer: Module, n: int) -> ModuleList:
    return ModuleList([copy.deepcopy(layer) for _ in range(n)])


class TransformerEncoder(Module):
    """`num_layers` deep copies of `encoder_layer`, then an optional final norm."""

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src: Tensor, mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                        is_causal=bool(is_causal))
        return out if self.norm is None else self.norm(out)


class TransformerDecoder(Module):
    """`num_layers` deep copies of `decoder_layer`, then an optional final norm."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: Module | None = None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask,
                        memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """An encoder-decoder Transformer; every weight matrix Xavier-uniform, as PyTorch's."""

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                      batch_first, norm_first, bias, device, dtype)
        norm_args = dict(eps=layer_norm_eps, bias=bias, device=device, dtype=dtype)
        self.encoder = custom_encoder if custom_encoder is not None else TransformerEncoder(
            TransformerEncoderLayer(*layer_args), num_encoder_layers,
            LayerNorm(d_model, **norm_args))
        self.decoder = custom_decoder if custom_decoder is not None else TransformerDecoder(
            TransformerDecoderLayer(*layer_args), num_decoder_layers,
            LayerNorm(d_model, **norm_args))
        for p in self.parameters():
            if p.ndim > 1:
                xavier_uniform_(p)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None,
                tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        batch = 0 if self.batch_first else 1
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[batch] != tgt.shape[batch]:
            raise ShapeError(f"Transformer: the batch number of src {tuple(src.shape)} and "
                             f"tgt {tuple(tgt.shape)} must be equal", source=user_source())
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ShapeError(f"Transformer: the feature number of src {tuple(src.shape)} and "
                             f"tgt {tuple(tgt.shape)} must be equal to d_model "
                             f"{self.d_model}", source=user_source())
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)
