"""Finding backends: entry points in the group `graphgrad.backends`, plus `register()`.

Backends are loaded lazily, the first time someone asks for them, so a missing CuPy or
CUDA device never breaks `import graphgrad`; it makes that backend *unavailable*, with
the reason, in `available()` and in the error that asking for it raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points

from graphgrad.errors import BackendError
from graphgrad.source import user_source

GROUP = "graphgrad.backends"

_factories: dict[str, object] = {}  # name -> entry point or class (not yet loaded)
_instances: dict[str, object] = {}
_failures: dict[str, str] = {}
_default_name = "numpy"
_seed: int | None = None
_discovered = False


@dataclass(frozen=True)
class BackendInfo:
    name: str
    usable: bool
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {'available' if self.usable else 'unavailable (' + self.reason + ')'}"


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    for ep in entry_points(group=GROUP):
        _factories.setdefault(ep.name, ep)


def register(name: str, backend_class) -> None:
    """Register a backend class by hand (tests, notebooks); entry points are the usual way."""
    _discover()
    _factories[name] = backend_class
    _instances.pop(name, None)
    _failures.pop(name, None)


def _load(name: str):
    if name in _instances:
        return _instances[name]
    if name in _failures:
        return None
    factory = _factories[name]
    try:
        cls = factory.load() if hasattr(factory, "load") else factory
        ok, reason = cls.availability()
        if not ok:
            _failures[name] = reason
            return None
        backend = cls()
    except Exception as exc:  # a plugin that cannot even load is unavailable, not fatal
        _failures[name] = f"failed to load: {type(exc).__name__}: {exc}"
        return None
    if _seed is not None:
        backend.seed(_seed)
    _instances[name] = backend
    return backend


def info() -> list[BackendInfo]:
    """Every installed backend, usable or not, with the reason when not."""
    _discover()
    out = []
    for name in sorted(_factories):
        backend = _load(name)
        out.append(BackendInfo(name, backend is not None, _failures.get(name, "")))
    return out


def available() -> list[str]:
    """Names of the installed backends that can run here."""
    return [b.name for b in info() if b.usable]


#: PyTorch's device types and the built-in backend each names: code written for PyTorch
#: (`.to("cuda")`, `device="cpu"`) runs on NumPy and CuPy unchanged.
DEVICE_BACKENDS = {"cpu": "numpy", "cuda": "cupy"}


def backend_name(spec) -> str:
    """The backend a spec names: a backend's own name (`"numpy"`, a plugin's), a PyTorch
    device string (`"cpu"`, `"cuda"`, `"cuda:0"`) or a `gg.device`."""
    text = str(spec)
    kind, _, index = text.partition(":")
    if index and kind in DEVICE_BACKENDS:
        if not index.isdigit():
            raise BackendError(f"invalid device string {text!r}", source=user_source())
        if int(index) != 0:
            raise BackendError(f"device {text!r}: graphgrad uses one device per backend, "
                               f"{kind}:0", source=user_source())
    return DEVICE_BACKENDS.get(kind, text)


def get_backend(name):
    """The backend instance `name` names (see `backend_name`), or a BackendError saying
    what is available."""
    _discover()
    if not isinstance(name, str) and hasattr(name, "kernels"):
        return name  # already a backend
    name = backend_name(name)
    if name not in _factories:
        raise BackendError(f"unknown backend {name!r}; available backends: "
                           f"{', '.join(available()) or 'none'}", source=user_source())
    backend = _load(name)
    if backend is None:
        raise BackendError(f"backend {name!r} is unavailable here: {_failures[name]}; "
                           f"available backends: {', '.join(available()) or 'none'}",
                           source=user_source())
    return backend


def default_backend():
    backend = _instances.get(_default_name)
    return backend if backend is not None else get_backend(_default_name)


def set_default_backend(name: str) -> None:
    """Make new tensors live on backend `name` (it must be available)."""
    global _default_name
    get_backend(name)
    _default_name = name


def seed_all(seed: int) -> None:
    """Seed every loaded backend now and every backend loaded later."""
    global _seed
    _seed = seed
    for backend in _instances.values():
        backend.seed(seed)
