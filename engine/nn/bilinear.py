"""nn.Bilinear: y = x1^T A x2 + b, with PyTorch's parameter shapes and initialization."""

from __future__ import annotations

import math

from ..errors import ArgumentError
from ..source import user_source
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import add_weight_and_bias


class Bilinear(Module):
    """weight (out, in1, in2) and bias (out,), both uniform in +-1/sqrt(in1) as in torch."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        if in1_features <= 0:
            raise ArgumentError(f"Bilinear: in1_features must be > 0, got {in1_features}",
                                op="Bilinear", source=user_source())
        self.in1_features, self.in2_features = int(in1_features), int(in2_features)
        self.out_features = int(out_features)
        add_weight_and_bias(self, (out_features, in1_features, in2_features), out_features,
                            bias, dtype, device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.bilinear(x1, x2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
