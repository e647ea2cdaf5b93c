"""A CPU EMULATION of CuPy for graphgrad's tests: switch it on and off, label it.

`site/` holds a NumPy-backed stand-in importable as `cupy` (and `cupyx`) only where this
package puts `site/` on the path: `activate()` in this process (what the `emulated_cupy`
fixtures do, scoped to a test), `subprocess_env()` for child processes (examples,
benchmarks, the conformance CLI). Nothing installs it; a user's `import cupy` never
finds it. It enforces CuPy's rules (see site/cupy/__init__.py) and runs generated CUDA as
host C++, so CI exercises the CuPy backend's code paths; it is labelled an emulation
everywhere (the backend's availability reason, test ids, the pytest header) because
nothing it runs says anything about a GPU.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parent / "site"
MODULES = ("cupy", "cupyx")
#: The label tests and reports use for results obtained under the emulation.
LABEL = "cupy-emulated"


def usable() -> tuple[bool, str]:
    """Whether the emulation can run here (it compiles kernels with g++)."""
    if shutil.which("g++") is None:
        return False, "g++ is not installed (the CuPy emulation compiles kernels as C++)"
    return True, ""


def _ours(name: str) -> bool:
    return name in MODULES or name.split(".")[0] in MODULES


_saved: list[dict] = []
_modules: dict = {}


def activate():
    """Make `import cupy` give the emulation in this process; returns the module.
    Balanced by `deactivate()`, which restores whatever was there (a real CuPy)."""
    _saved.append({k: v for k, v in sys.modules.items() if _ours(k)})
    for k in list(sys.modules):
        if _ours(k):
            del sys.modules[k]
    if _modules:
        sys.modules.update(_modules)
    else:
        sys.path.insert(0, str(SITE))
        try:
            importlib.import_module("cupy")
            for name in ("cupyx", "cupyx.scipy", "cupyx.scipy.special"):
                importlib.import_module(name)
        finally:
            sys.path.remove(str(SITE))
        _modules.update({k: v for k, v in sys.modules.items() if _ours(k)})
    return sys.modules["cupy"]


def deactivate() -> None:
    for k in list(sys.modules):
        if _ours(k):
            del sys.modules[k]
    sys.modules.update(_saved.pop())


def is_emulation(module) -> bool:
    return bool(getattr(module, "__graphgrad_emulation__", None))


def subprocess_env(base: dict | None = None) -> dict:
    """An environment whose Python imports the emulation as `cupy` (for child processes)."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE), env.get("PYTHONPATH")]))
    return env
