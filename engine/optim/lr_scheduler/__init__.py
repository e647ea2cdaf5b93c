"""Learning-rate schedulers: change `group["lr"]` between steps (PyTorch's recurrences).

OneCycleLR also cycles momentum (SGD's `momentum`, Adam's first beta) the opposite way.

They write plain Python numbers into the optimizer's param groups; a compiled step
reads `lr` afresh at every call (`tracing.dynamic_scalar`), so scheduling needs no
retrace.
"""

from .base import LRScheduler
from .cycles import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR
from .plateau import ReduceLROnPlateau
from .recurrences import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from .sequence import ChainedScheduler, SequentialLR

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
           "PolynomialLR", "CosineAnnealingLR", "LambdaLR", "MultiplicativeLR", "SequentialLR",
           "ChainedScheduler", "ReduceLROnPlateau", "OneCycleLR", "CyclicLR",
           "CosineAnnealingWarmRestarts"]
