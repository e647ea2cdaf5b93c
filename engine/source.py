"""Finding the user's `file:line`: the first stack frame outside graphgrad itself."""

from __future__ import annotations

import functools
import importlib.util
import os
import sys


@functools.cache
def _package_dirs() -> tuple[str, ...]:
    dirs = set()
    for name in ("graphgrad", "graphgrad.backends", "graphgrad.viz"):
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            dirs.add(os.path.abspath(location) + os.sep)
    return tuple(dirs)


@functools.lru_cache(maxsize=4096)
def is_internal(filename: str) -> bool:
    """Whether a code object's file belongs to graphgrad (or its generated plans)."""
    if filename.startswith("<graphgrad"):
        return True
    return os.path.abspath(filename).startswith(_package_dirs())


def user_frame(skip: int = 1):
    """The innermost frame that belongs to user code (None when there is none)."""
    frame = sys._getframe(skip)
    while frame is not None and is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


# (once per traced node: cached. A cached function, not a dict, so that the guards a
# compiled step takes on the globals it reaches do not take one on this cache.)
_basename = functools.cache(os.path.basename)


def user_source() -> str:
    """`file:line` of the user code that is calling into graphgrad right now."""
    frame = user_frame(2)
    if frame is None:
        return "<unknown>"
    return f"{_basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def user_stacklevel() -> int:
    """The `stacklevel` for `warnings.warn` called here that names the user's line (the
    first frame outside graphgrad), however deep inside graphgrad the warning is."""
    frame, level = sys._getframe(1), 1
    while frame is not None and is_internal(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level
