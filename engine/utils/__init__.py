"""`graphgrad.utils`: PyTorch's `torch.utils` names (`graphgrad.utils.data`)."""

from . import data

__all__ = ["data"]
