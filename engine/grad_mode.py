"""Grad mode: whether ops record what they need for `backward()`.

`no_grad`, `enable_grad` and `set_grad_enabled` work as context managers and as
decorators, like PyTorch's.
"""

from __future__ import annotations

import functools
import inspect

_enabled = True


def is_grad_enabled() -> bool:
    return _enabled


class set_grad_enabled:
    """Turn recording on or off inside a `with` block or a decorated function."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.prev = None
        global _enabled
        self.prev, _enabled = _enabled, self.mode  # plain call sets the mode, as in PyTorch

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self.prev
        return False

    def __call__(self, fn):
        global _enabled
        _enabled = self.prev  # used as a decorator: undo the eager switch made in __init__
        mode = self.mode
        if inspect.isgeneratorfunction(fn):
            return _generator_in_mode(fn, mode)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


def _generator_in_mode(fn, mode: bool):
    """A decorated generator runs each of its steps in the mode, as torch's decorators do
    (calling it only makes the generator: the body runs at each next())."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        gen = fn(*args, **kwargs)
        try:
            with set_grad_enabled(mode):
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with set_grad_enabled(mode):
                        gen.close()
                    raise
                except BaseException as exc:  # noqa: BLE001  (handed to the generator)
                    with set_grad_enabled(mode):
                        response = gen.throw(exc)
                else:
                    with set_grad_enabled(mode):
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value

    return wrapper


class _BareDecorator:
    """`@no_grad` without parentheses decorates too (torch accepts both spellings)."""

    def __new__(cls, *args, **kwargs):
        if len(args) == 1 and not kwargs and callable(args[0]) and \
                not isinstance(args[0], bool):
            return cls()(args[0])
        return super().__new__(cls)


class no_grad(_BareDecorator, set_grad_enabled):
    """Results made inside have `requires_grad == False`; leaves may be updated in place."""

    def __init__(self):
        super().__init__(False)


class enable_grad(_BareDecorator, set_grad_enabled):
    def __init__(self):
        super().__init__(True)


class inference_mode(_BareDecorator, set_grad_enabled):
    """PyTorch's `inference_mode`: for graphgrad the same as `no_grad` (nothing recorded;
    graphgrad keeps no extra bookkeeping that inference mode could skip).
    `inference_mode(False)` leaves recording as it is."""

    def __init__(self, mode: bool = True):
        super().__init__(not mode and is_grad_enabled())

    def __call__(self, fn=None):
        if fn is None or not callable(fn):  # `@inference_mode()` with no function yet
            return self
        return super().__call__(fn)


def is_inference_mode_enabled() -> bool:
    return not _enabled
