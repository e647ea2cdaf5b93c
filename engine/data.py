"""`gg.data`, the old home of datasets and loaders: the same objects as
`graphgrad.utils.data` (PyTorch's `torch.utils.data`), kept so existing code runs."""

from .utils.data import *  # noqa: F403
from .utils.data import __all__  # noqa: F401
