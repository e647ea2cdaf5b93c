"""`Tensor`: a value (eager) or a symbol in a graph being traced, with autograd bookkeeping.

A Tensor holds either a backend array (`_value`) or, while `gg.compile`/`gg.trace` is
tracing, a node id in the tracer's Graph (`_node`). Ops never look at which: they go
through `ops.registry.apply`, which runs the kernel or adds a node. When grad mode is
on and an input requires grad, the result remembers how it was made (`_ctx`), and
`backward()` walks those records in reverse (see `autodiff.py`). A view (a slice,
a reshape, `.detach()`...) remembers its base and shares its version counter; writes
through it reach the base (see `views.py`, which also defines the in-place core).

This file sits below the ops and autograd: the methods that compute (`+`, `sum`,
`astype`, `clone`, `backward`, ...) are registered on Tensor by the layer that
implements them (`tensor_method` in the op groups, `autodiff.py` for `backward`), so
nothing here imports upward.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import dtypes, grad_mode
from .arrays import as_array, register_tensor_type
from .backends.registry import default_backend
from .device import backend_of, names_a_device
from .device import device as Device
from .errors import ArgumentTypeError, AutogradError, DtypeError, ShapeError, TracingError
from .ir import tracing
from .nodes import RESULT, RETAINING, BackwardNode, Ctx, saves_also  # noqa: F401  (re-exported)
from .printing import format_values
from .source import user_source


class Tensor:
    __slots__ = (
        "_value", "_node", "_tracer", "shape", "dtype", "_requires_grad", "_ctx", "_grad",
        "_vc", "_backend", "_base", "_steps", "_linked", "_views", "_exposed", "__weakref__",
    )
    __array_priority__ = 1000  # so `ndarray * Tensor` calls Tensor.__rmul__
    weak = False  # True for WeakScalar: promotes like a Python number
    engine_constant = False  # True for Constant (see nodes.Ctx.release)

    # ---------------------------------------------------------------- construction
    @classmethod
    def _wrap(cls, value, backend):
        """A concrete tensor around a backend array (no copy)."""
        t = object.__new__(cls)
        t._fill(value, backend)
        return t

    def _fill(self, value, backend, requires_grad=False) -> None:
        """Set every field of a concrete tensor (shared by _wrap and __init__)."""
        self._value = value
        self._node = None
        self._tracer = None
        self.shape = tuple(value.shape)
        self.dtype = value.dtype
        self._requires_grad = requires_grad
        self._ctx = None
        self._grad = None
        self._backend = backend
        self._vc = [0]  # (_make_root, inlined: every eager op and compiled result comes here)
        self._base = None
        self._steps = ()
        self._linked = True
        self._views = None
        self._exposed = False  # its array is the user's too (numpy(), from_numpy)
        tracer = tracing.current
        if tracer is not None:
            tracer.note_created(self)

    @classmethod
    def _symbolic(cls, tracer, node, shape, dtype, backend):
        t = object.__new__(cls)
        t._value = None
        t._node = node
        t._tracer = tracer
        t.shape = shape
        t.dtype = dtype
        t._requires_grad = False
        t._ctx = None
        t._grad = None
        t._backend = backend
        t._vc = [0]  # (`_make_root`, inlined: one per traced op)
        t._base = None
        t._steps = ()
        t._linked = True
        t._views = None
        t._exposed = False
        return t

    def _make_root(self) -> None:
        """No base, no views yet, a version counter of its own."""
        self._vc = [0]
        self._base = None
        self._steps = ()
        self._linked = True
        self._views = None

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (shared with its views)."""
        return self._vc[0]

    @_version.setter
    def _version(self, value: int) -> None:
        self._vc[0] = value

    def __init__(self, data, dtype=None, requires_grad=False):
        backend = default_backend()
        self._fill(backend.from_numpy(as_array(data, dtype)), backend)
        if requires_grad:
            self.requires_grad_(True)

    # ---------------------------------------------------------------- basic facts
    @property
    def is_symbolic(self) -> bool:
        return self._value is None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __iter__(self):
        """Iterate over the first dimension (`w, b = params`), as PyTorch does."""
        if not self.shape:
            raise ArgumentTypeError("iteration over a 0-d tensor", source=user_source())
        return (self[i] for i in range(self.shape[0]))

    def __len__(self) -> int:
        if not self.shape:
            raise ArgumentTypeError("len() of a 0-d tensor", source=user_source())
        return self.shape[0]

    @property
    def backend(self):
        return self._backend

    @property
    def device(self) -> Device:
        """Where the tensor lives, in PyTorch's words (`device(type='cpu')` for NumPy); it
        compares equal to the backend's name too (`t.device == "numpy"`)."""
        return Device(self._backend.name)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> BackwardNode | None:
        return None if self._ctx is None else BackwardNode(self._ctx)

    # ---------------------------------------------------------------- values
    def _concrete(self, what: str):
        if self._value is None:
            raise TracingError(
                f"{what} needs a concrete value, but this tensor (shape {self.shape}, "
                f"{dtypes.short(self.dtype)}) is symbolic: it is being traced by gg.compile, "
                "so its value exists only when the compiled plan runs. Use tensor ops instead "
                "(e.g. gg.where for a branch), or return the tensor from the compiled function "
                "and read it after the call.",
                source=user_source(),
            )
        return self._value

    def numpy(self) -> np.ndarray:
        """The value as a NumPy array: on the CPU, the tensor's own memory, as PyTorch's
        (an in-place op on the tensor later shows in it); copied off a device."""
        value = self._concrete(".numpy()")
        array = self._backend.to_numpy(value)
        if array is value:
            (self if self._base is None else self._base)._exposed = True
        return array

    def item(self):
        value = self._concrete(".item()")
        if self.numel() != 1:
            raise ShapeError(
                f"item() needs a tensor with one element, got shape {self.shape}",
                source=user_source(),
            )
        return self._backend.to_numpy(value).reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self._item_for("float()"))

    def __int__(self):
        return int(self._item_for("int()"))

    def __index__(self):
        if self.dtype.kind not in "iub":
            raise DtypeError("only integer tensors can be used as an index", source=user_source())
        return int(self._item_for("an index"))

    def __bool__(self):
        return bool(self._item_for("a Python `if`/`bool()`"))

    def _item_for(self, what):
        self._concrete(what)
        return self.item()

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    # identity hashing in C (a tensor's == is elementwise, so a dict keyed by tensors,
    # like an optimizer's state, finds a key by identity: `is` is checked before `==`)
    __hash__ = object.__hash__

    # ---------------------------------------------------------------- autograd
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not dtypes.is_float(self.dtype):
            raise AutogradError(
                f"only floating-point tensors can require grad, this one is "
                f"{dtypes.short(self.dtype)}; convert it with .float() first",
                source=user_source(),
            )
        if not value and self._requires_grad and self._ctx is not None:
            raise AutogradError(
                "you can only change requires_grad flags of leaf tensors: this one was "
                "computed by an op. Use .detach() for a copy outside the graph",
                source=user_source())
        self._requires_grad = bool(value)

    @property
    def grad(self):
        tracer = tracing.current
        if tracer is not None:
            tracer.note_grad_read(self)
        elif self._grad is None and self._ctx is not None and self._ctx not in RETAINING:
            warnings.warn(
                "The .grad attribute of a tensor that is not a leaf is being read: "
                "backward() does not fill it. Call .retain_grad() on it before backward() "
                "to keep its gradient, or read the .grad of the leaf tensors instead",
                UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        tracer = tracing.current
        if tracer is not None:
            tracer.note_grad_owner(self)
            if value is None:
                tracer.cleared_grads.add(id(self))
        if value is not None:
            _check_grad_value(self, value)
        self._grad = value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not requires_grad and self._ctx is not None:
            raise AutogradError(
                "requires_grad_(False) on a non-leaf tensor; use .detach() instead",
                source=user_source(),
            )
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A tensor sharing this one's memory and version counter, outside autograd."""
        return self._detached_alias(share_version=True)

    def detach_(self) -> Tensor:
        self._ctx = None
        self.requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        """Like detach(), but with a version counter of its own (in-place changes through
        `.data` go unnoticed by autograd, as in PyTorch)."""
        return self._detached_alias(share_version=False)

    @data.setter
    def data(self, other: Tensor) -> None:
        with grad_mode.no_grad():
            self._views = None  # new memory: the old views no longer see this tensor
            self._assign(other.detach(), check_leaf=False)

    def retain_grad(self) -> None:
        """Keep this non-leaf's gradient in `.grad` at the next `backward()` (as PyTorch
        does: a way to look inside a network while learning; leaves keep theirs anyway)."""
        if not self._requires_grad:
            raise AutogradError("can't retain_grad on a tensor that has requires_grad=False",
                                source=user_source())
        if self._ctx is None:
            return
        if self._value is None:
            raise TracingError("retain_grad() inside a compiled step: the gradient of an "
                               "intermediate value exists only while the plan runs; return "
                               "it from the step instead (e.g. gg.autograd.grad(loss, h))",
                               source=user_source())
        RETAINING.add(self._ctx)

    @property
    def retains_grad(self) -> bool:
        return self._ctx is not None and self._ctx in RETAINING

    # ---------------------------------------------------------------- conversion
    def to(self, *args, dtype=None, device=None, non_blocking: bool = False,
           copy: bool = False) -> Tensor:
        """PyTorch's forms: `to(device)` (`"cpu"`, `"cuda"`, a backend's name, a
        `gg.device`), `to(dtype)`, `to(device, dtype)`, `to(other_tensor)` and the
        keywords. Returns `self` when nothing changes (unless `copy`)."""
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg._backend, arg.dtype
            elif names_a_device(arg):
                device = arg
            else:
                dtype = arg
        out = self if device is None else self._moved_to(backend_of(device))
        if dtype is not None and dtypes.as_dtype(dtype) != out.dtype:
            out = out.astype(dtype)
        return out.clone() if copy and out is self else out

    def _moved_to(self, backend) -> Tensor:
        if backend is self._backend:
            return self
        host = self._backend.to_numpy(self._concrete(".to(device)"))
        t = Tensor._wrap(backend.from_numpy(host), backend)
        t.requires_grad = self.requires_grad
        return t

    def type(self, dtype) -> Tensor:
        return self.astype(dtype)

    def float(self) -> Tensor:
        return self.astype(dtypes.float32)

    def double(self) -> Tensor:
        return self.astype(dtypes.float64)

    def long(self) -> Tensor:
        return self.astype(dtypes.int64)

    def int(self) -> Tensor:
        return self.astype("int32")

    def short(self) -> Tensor:
        return self.astype("int16")

    def bool(self) -> Tensor:
        return self.astype(dtypes.bool_)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device=None, non_blocking: bool = False) -> Tensor:
        """On the CuPy backend (`"cuda"`); a clear BackendError where it cannot run."""
        if device is None:
            return self.to("cuda")
        return self.to(Device("cuda", device) if isinstance(device, int) else Device(device))

    # ---------------------------------------------------------------- printing
    def __repr__(self) -> str:
        extra = []
        if self.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool_):
            extra.append(f"dtype={self.dtype.name}")
        if self._backend is not None and self._backend.name != "numpy":
            extra.append(f"device='{self._backend.name}'")
        if self._ctx is not None:
            extra.append(f"grad_fn=<{BackwardNode(self._ctx).name()}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self._value is None:
            body = f"<symbolic %{self._node} {dtypes.short(self.dtype)}{list(self.shape)}>"
        else:
            body = format_values(self._backend.to_numpy(self._value))
            if body == "[]" and self.shape != (0,):
                extra.insert(0, f"size={self.shape}")
        return "tensor(" + ", ".join([body] + extra) + ")"

    def __format__(self, spec: str) -> str:
        """`f"{loss:.4f}"`: a one-element 0-d tensor formats as its number (PyTorch's rule)."""
        if self.ndim == 0 and self._value is not None:
            return self.item().__format__(spec)
        return object.__format__(self, spec)


def _check_grad_value(t: Tensor, value) -> None:
    """What PyTorch checks on `t.grad = value`: a Tensor of t's shape and dtype."""
    if not isinstance(value, Tensor):
        raise DtypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                         f"type {type(value).__name__}", source=user_source())
    if value.shape != t.shape:
        raise ShapeError(f"assigned grad of shape {value.shape} to a tensor of shape {t.shape}",
                         source=user_source())
    if value.dtype != t.dtype:
        raise DtypeError(f"assigned grad of dtype {dtypes.short(value.dtype)} to a tensor of "
                         f"dtype {dtypes.short(t.dtype)}; the gradient must have the tensor's "
                         "dtype", source=user_source())


class Constant(Tensor):
    """A number the engine itself put into a composite (a `mean`'s 1/n): a second
    backward through an op that saved it is no error, as PyTorch's fused op saves none."""

    __slots__ = ()
    engine_constant = True


class WeakScalar(Tensor):
    """A symbolic Python number (e.g. a learning rate read at each call of a compiled plan):
    in type promotion it behaves like the number, so `lr * grad` stays float32."""

    __slots__ = ()
    weak = True


register_tensor_type(Tensor)
tracing.register_tensor_classes(Tensor, WeakScalar)


def tensor_method(name: str | None = None):
    """Decorator: expose a public op function as a Tensor method too (PyTorch's name)."""

    def register(fn):
        setattr(Tensor, name or fn.__name__, fn)
        return fn

    return register
