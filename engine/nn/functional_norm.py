"""Layer and group normalization and embeddings as functions (PyTorch 2.13's signatures).

All three are compositions of existing ops (mean, var, index, where), so they run
eagerly and traced alike and their gradients come from the ops' rules. Batch
normalization, which also updates running statistics, is `functional.batch_norm`.
"""

from __future__ import annotations

from ..errors import ArgumentError, DtypeError, ShapeError, UnsupportedError
from ..ops.elementwise import where
from ..source import user_source
from ..tensor import Tensor, saves_also

__all__ = ["layer_norm", "group_norm", "embedding"]


def normalize(x: Tensor, axes: tuple[int, ...], eps: float) -> Tensor:
    """(x - mean) / sqrt(var + eps) over `axes`, with the biased variance (as PyTorch)."""
    mean = x.mean(axes, keepdim=True)
    var = x.var(axes, unbiased=False, keepdim=True)
    return (x - mean) / (var + eps).sqrt()


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the last len(normalized_shape) dims, then scale and shift."""
    shape = (int(normalized_shape),) if isinstance(normalized_shape, int) \
        else tuple(int(s) for s in normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape or input.ndim < len(shape):
        raise ShapeError(f"layer_norm: input of shape {input.shape} does not end in "
                         f"normalized_shape {shape}", op="layer_norm", source=user_source())
    out = normalize(input, tuple(range(input.ndim - len(shape), input.ndim)), eps)
    if weight is not None:
        out = out * weight
    out = out if bias is None else out + bias
    return saves_also("layer_norm", out, input, weight, bias)  # PyTorch's saves all three


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize each sample over groups of channels (and all spatial positions)."""
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise ShapeError(f"group_norm: expected an (N, C, *) input with C divisible by "
                         f"num_groups={num_groups}, got shape {input.shape}", op="group_norm",
                         source=user_source())
    n, c = input.shape[:2]
    grouped = input.reshape(n, num_groups, -1)
    out = normalize(grouped, (2,), eps).reshape(input.shape)
    per_channel = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(per_channel)
    return out if bias is None else out + bias.reshape(per_channel)


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
    out = weight[input]
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


