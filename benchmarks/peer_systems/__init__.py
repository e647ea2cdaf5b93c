"""The systems benchmarks/peers.py compares, each a module with `build(workload, ...)`
returning a zero-argument step that runs one training step and returns its loss.

Modules are imported by name when a system is built, so that a process measuring one
system's memory loads only that system's library (torch alone adds ~300 MB of RSS).
"""

from __future__ import annotations

import importlib

# name -> (module, keyword arguments of its build, the same for --quick)
SYSTEMS = {
    "numpy (hand)": ("numpy_steps", {}, {}),
    "graphgrad compiled": ("graphgrad_steps", {"compiled": True}, {"compiled": True}),
    "graphgrad eager": ("graphgrad_steps", {"compiled": False}, {"compiled": False}),
    "graphgrad numba": ("numba_steps", {}, {}),
    "torch eager": ("torch_steps", {"compiled": False}, {"compiled": False}),
    "torch.compile": ("torch_steps", {"compiled": True},
                      {"compiled": True, "mode": "eager"}),  # quick: dynamo, no inductor
    "jax jit": ("jax_steps", {}, {}),
    "pytensor": ("pytensor_steps", {}, {"mode": "FAST_COMPILE"}),
}

SHORT = {"numpy": "numpy (hand)", "gg": "graphgrad compiled", "gg-eager": "graphgrad eager",
         "numba": "graphgrad numba",
         "torch": "torch eager", "torch-compile": "torch.compile", "jax": "jax jit",
         "pytensor": "pytensor"}


def module(name: str):
    mod, _, _ = SYSTEMS[name]
    if mod == "pytensor_steps":
        import pytensor  # noqa: PLC0415 - configured before any graph is built
        pytensor.config.floatX = "float32"
    return importlib.import_module(f".{mod}", __name__)


def build(name: str, workload, quick: bool = False):
    """A step of system `name` on `workload`."""
    _, kwargs, quick_kwargs = SYSTEMS[name]
    return module(name).build(workload, **(quick_kwargs if quick else kwargs))
