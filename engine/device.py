"""`gg.device`: PyTorch's name for where tensors live, mapped onto graphgrad's backends.

`"cpu"` is the NumPy backend and `"cuda"` (`"cuda:0"`) the CuPy backend; a third-party
backend is its own device type (`gg.device("mine")`). A device compares equal to every
spelling of the same place, so `t.device == "cpu"`, `t.device == "numpy"` and
`t.device == gg.device("cpu")` all hold for a NumPy tensor.
"""

from __future__ import annotations

from . import dtypes
from .backends.registry import DEVICE_BACKENDS, backend_name, get_backend

_TYPE_OF_BACKEND = {backend: kind for kind, backend in DEVICE_BACKENDS.items()}


class device:  # noqa: N801  (PyTorch's spelling)
    """A device: `gg.device("cuda")`, `gg.device("cuda", 0)`, `gg.device("cpu")`."""

    def __init__(self, type: str | device, index: int | None = None):  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        kind, _, given = str(type).partition(":")
        self.backend = backend_name(f"{kind}:{given}" if given else kind)
        self.type = _TYPE_OF_BACKEND.get(self.backend, self.backend)
        self.index = int(given) if given else index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{index})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except Exception:
                return False
        return isinstance(other, device) and other.backend == self.backend

    def __hash__(self) -> int:
        return hash(self.backend)


def backend_of(spec):
    """The backend instance for a device, device string or backend name."""
    return get_backend(spec.backend if isinstance(spec, device) else spec)


def names_a_device(arg) -> bool:
    """Whether `.to(arg)` means a place rather than a dtype: a `gg.device`, a backend
    instance, or a string that names no dtype (`"complex64"` names one, so `.to` gives a
    dtype error for it rather than "unknown backend")."""
    if isinstance(arg, device) or (not isinstance(arg, str) and hasattr(arg, "kernels")):
        return True
    return isinstance(arg, str) and arg not in dtypes._ALIASES and not dtypes.names_a_dtype(arg)
