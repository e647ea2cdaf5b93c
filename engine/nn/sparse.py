"""Embedding: a lookup table of learned vectors, with PyTorch 2.13's arguments,
`weight` parameter and N(0, 1) initialization (row `padding_idx` zeroed)."""

from __future__ import annotations

from .. import dtypes, grad_mode
from ..creation import empty
from ..tensor import Tensor
from . import init
from .functional_norm import embedding, padding_idx_of
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """`weight[input]` for integer `input`; the gradient of row `padding_idx` stays zero."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = None if padding_idx is None else \
            padding_idx_of(padding_idx, self.num_embeddings)
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            dt = dtypes.as_dtype(dtype) if dtype is not None else None
            self.weight = Parameter(empty(num_embeddings, embedding_dim, dtype=dt,
                                          device=device), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with grad_mode.no_grad():
                self.weight[self.padding_idx] = 0.0

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: int | None = None, **kwargs) -> Embedding:
        """An Embedding holding `embeddings` (rows, dim) as its weight, frozen by default."""
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx, _weight=embeddings, _freeze=freeze,
                   **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return embedding(x, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
