"""Backends: the `Backend` contract, plugin discovery, and the built-in plugins."""

from .base import Backend
from .registry import (
    available,
    default_backend,
    get_backend,
    info,
    register,
    set_default_backend,
)

__all__ = ["Backend", "available", "default_backend", "get_backend", "info", "register",
           "set_default_backend"]
