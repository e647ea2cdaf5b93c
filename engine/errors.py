"""One error hierarchy, so users catch `gg.GraphgradError` and read messages in their terms.

Every error raised on behalf of an op carries the op's name, the shapes and dtypes it saw,
and the `file:line` of the user's code that called it.
"""

from __future__ import annotations

#: Sources that name no file a user could open (`python -c`, a piped script).
_NO_FILE = ("<string>:", "<stdin>:", "<unknown>")


def _points_at_a_file(source: str | None) -> bool:
    return bool(source) and not source.startswith(_NO_FILE)


class GraphgradError(Exception):
    """Base class of every error graphgrad raises on purpose."""

    def __init__(self, message: str, *, op: str | None = None, source: str | None = None):
        self.op = op
        self.source = source
        parts = [message if not op or op in message else f"{op}: {message}"]
        if _points_at_a_file(source) and source not in message:
            parts.append(f"(at {source})")
        super().__init__(" ".join(parts))

    def locate(self, source: str | None, op: str | None = None) -> GraphgradError:
        """Fill in the op and the user's `file:line` where the raiser could not know them."""
        if self.op is None and op:
            self.op = op
            if op not in str(self):
                self.args = (f"{op}: {self.args[0]}", *self.args[1:])
        if self.source is None and source:
            self.source = source
            if _points_at_a_file(source) and source not in str(self):
                self.args = (f"{self.args[0]} (at {source})", *self.args[1:])
        return self


class ShapeError(GraphgradError, ValueError, RuntimeError):
    """Operands whose shapes do not fit the op (a RuntimeError too, as PyTorch raises for
    mismatched shapes, so `except RuntimeError` ported from PyTorch code catches it)."""


class ViewError(ShapeError):
    """`view` of a tensor whose strides do not allow that view (PyTorch's RuntimeError:
    "view size is not compatible with input tensor's size and stride")."""


class DtypeError(GraphgradError, TypeError):
    """Operands whose dtypes the op does not accept."""


class IndexingError(ShapeError, IndexError):
    """A dim or index out of range, or a boolean mask of the wrong shape (PyTorch raises
    IndexError there, so this is one too)."""


class ArgumentError(GraphgradError, ValueError):
    """A hyperparameter or argument with a value outside what the function accepts
    (`Dropout(2)`, `label_smoothing=2`, `randperm(-3)`)."""


class ArgumentTypeError(GraphgradError, TypeError):
    """An argument of the wrong Python type (`SGD(lr="0.1")`, `p.grad = [...]`)."""


class UnsupportedError(GraphgradError, NotImplementedError):
    """An option PyTorch has and graphgrad does not implement (yet): said plainly, naming
    the option, instead of a different result."""


class AllocationError(GraphgradError, MemoryError):
    """A tensor too large to allocate; the message says how many bytes were asked for."""


class TracingError(GraphgradError, RuntimeError):
    """Something that cannot work on a symbolic (traced) value."""


class SignatureError(TracingError, TypeError):
    """A compiled function called with arguments that do not fit its parameters."""


class BackendError(GraphgradError, RuntimeError):
    """Unknown or unavailable backend, or a backend missing a kernel."""

    @classmethod
    def no_kernel(cls, backend, op: str, source: str | None = None) -> BackendError:
        """The error for running `op` on a backend without its kernel (eager, lowered or
        interpreted alike)."""
        return cls(f"backend {backend.name!r} has no kernel for op {op!r}", op=op,
                   source=source)


class DistributedError(GraphgradError, RuntimeError):
    """A collective that cannot complete: no process group, a timeout, a failed rank."""


class AutogradError(GraphgradError, RuntimeError):
    """Misuse of backward(), requires_grad or in-place updates."""


class SerializationError(GraphgradError, ValueError):
    """A file that is not a graphgrad state file, or is damaged."""


class NumericalError(GraphgradError, FloatingPointError):
    """NaN or Inf found by `gg.detect_anomaly()`."""


class GraphError(GraphgradError, ValueError):
    """A Graph that breaks the IR's invariants (found by `Graph.verify`)."""


class GradcheckError(GraphgradError, AssertionError):
    """`gg.gradcheck` found derivatives that disagree with finite differences."""
