"""Finding the modules and optimizers a function can reach, to name graph state after them."""

from __future__ import annotations

import inspect


def _is_namable(obj) -> bool:
    return hasattr(obj, "named_parameters") and callable(obj.named_parameters)


def reachable_named_objects(fn):
    """(object, prefix) for modules in fn's closure/globals (or fn itself, if a module),
    and (tensor, variable name) for tensors it refers to directly."""
    found = []
    if _is_namable(fn):
        return [(fn, "")]
    target = inspect.unwrap(fn)
    code = getattr(target, "__code__", None)
    if code is None:
        return found
    candidates = []
    closure = getattr(target, "__closure__", None) or ()
    for name, cell in zip(code.co_freevars, closure):
        try:
            candidates.append((name, cell.cell_contents))
        except ValueError:
            continue
    globs = getattr(target, "__globals__", {})
    candidates += [(name, globs[name]) for name in code.co_names if name in globs]
    self_obj = getattr(fn, "__self__", None)
    if self_obj is not None:
        candidates.append(("self", self_obj))
    from .tensor import Tensor

    found += [(obj, name) for name, obj in candidates if isinstance(obj, Tensor)]
    modules = [(name, obj) for name, obj in candidates if _is_namable(obj)]
    single = len(modules) == 1
    for name, obj in modules:
        found.append((obj, "" if single else f"{name}."))
    return found
