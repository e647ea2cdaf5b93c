"""`gg.autograd`: the functional entry points, as in `torch.autograd`."""

from .autodiff import backward, grad

__all__ = ["backward", "grad"]
