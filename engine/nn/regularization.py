"""Layers whose behaviour depends on `training`: Dropout and BatchNorm1d."""

from __future__ import annotations

from .. import dtypes
from ..creation import ones, zeros
from ..errors import ShapeError
from ..source import user_source
from ..tensor import Tensor
from . import functional as F
from .module import Module
from .parameter import Parameter


class Dropout(Module):
    """Zeroes elements with probability p while training (seeded by gg.manual_seed)."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p, self.inplace = F.check_dropout_p(p), inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(Dropout):
    """Zeroes whole channels of (N, C, L) or (C, L) inputs with probability p."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout1d(x, self.p, self.training)


class Dropout2d(Dropout):
    """Zeroes whole channels of (N, C, H, W) inputs with probability p."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)


class AlphaDropout(Dropout):
    """Dropout that keeps a SELU network's activations at mean 0 and variance 1."""

    def forward(self, x: Tensor) -> Tensor:
        return F.alpha_dropout(x, self.p, self.training)


class FeatureAlphaDropout(Dropout):
    """AlphaDropout of whole channels."""

    def forward(self, x: Tensor) -> Tensor:
        return F.feature_alpha_dropout(x, self.p, self.training)


class BatchNorm1d(Module):
    """Batch normalization over (N, C) or (N, C, L) inputs (Ioffe & Szegedy, 2015).

    Training normalizes with the batch's statistics and folds them into `running_mean`
    and `running_var` (in place); eval mode normalizes with the running statistics.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = dtypes.as_dtype(dtype) if dtype is not None else None
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dt, device=device))
            if bias:
                self.bias = Parameter(zeros(num_features, dtype=dt, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dt, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dt, device=device))
            self.register_buffer("num_batches_tracked",
                                 zeros((), dtype=dtypes.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    #: The input ranks accepted (BatchNorm2d: 4).
    input_dims: tuple[int, ...] = (2, 3)

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        if x.ndim not in self.input_dims:
            raise ShapeError(f"{name}: expected {' or '.join(f'{d}D' for d in self.input_dims)}"
                             f" input (got {x.ndim}D input)", op="batch_norm",
                             source=user_source())
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{name}({self.num_features}): input of shape {x.shape} has "
                             f"{x.shape[1]} channels in dim 1", op="batch_norm",
                             source=user_source())
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch_stats, self.momentum, self.eps,
                            self.num_batches_tracked if self.training else None)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")
