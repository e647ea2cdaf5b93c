"""`Tensor`: a value (eager) or a symbol in a graph being traced, with autograd bookkeeping.

A Tensor holds either a backend array (`_value`) or, while `gg.compile`/`gg.trace` is
tracing, a node id in the tracer's Graph (`_node`). Ops never look at which: they go
through `ops.registry.apply`, which runs the kernel or adds a node. When grad mode is
on and an input requires grad, the result remembers how it was made (`_ctx`), and
`backward()` walks those records in reverse (see `autodiff.py`). A view (a slice,
a reshape, `.detach()`...) remembers its base and shares its version counter; writes
through it reach the base (see `views.py`, which also defines the in-place core).
"""

from __future__ import annotations

import math
import warnings
import weakref

import numpy as np

from . import dtypes, grad_mode
from .device import backend_of
from .device import device as Device
from .errors import ArgumentTypeError, AutogradError, DtypeError, ShapeError, TracingError
from .ir import tracing
from .source import user_source


class Ctx:
    """How a tensor was made: one node of the eager autograd graph.

    `parents` are the nodes the inputs stood for when the op ran (their `Ctx`, or the
    leaf tensor itself), fixed at creation, so an in-place op that later gives an input
    a new history does not reroute this node's gradient (PyTorch's graph of nodes, not
    of tensors). `saved` are the input positions whose values the VJP reads: only those
    are version-checked, and `release()` (backward without retain_graph) frees them.
    `out` is a weak reference to the result: a strong one would be a reference cycle.
    A node holds only what some VJP will read (see `_held`): an intermediate that no
    VJP reads is freed as soon as the user drops it, as PyTorch frees it.
    """

    __slots__ = ("op", "inputs", "attrs", "versions", "parents", "saved", "out", "out_version",
                 "released", "__weakref__")

    def __init__(self, op, inputs, attrs, out=None):
        self.op = op
        self.attrs = attrs
        self.parents = tuple(x._ctx if x._ctx is not None else x if x.requires_grad else None
                             for x in inputs)
        rule = op.saves
        saved = range(len(inputs)) if rule is None else rule(
            tuple(p is not None for p in self.parents))
        self.saved = tuple(saved)
        self.versions = tuple(inputs[i]._version for i in self.saved)
        self.out = None if out is None else weakref.ref(out)
        # an op without a `saves` rule, or one that says so, reads its result: that is
        # version-checked too, and whoever consumes the result keeps it (see `_held`)
        reads_out = rule is None or op.saves_output
        self.out_version = out._version if reads_out and out is not None else None
        self.inputs = _held(inputs, self.parents, self.saved)
        self.released = False

    def release(self) -> None:
        """Free what backward needed (PyTorch frees saved tensors unless retain_graph).

        Leaves stay (the caller owns them), and so do 0-d constants (Python numbers: a
        `mean`'s 1/n). The others become value-less shells that keep the graph's shape
        (backward hands a result that a node not yet walked reads as its output over
        before this: see autodiff.backprop). `released` then says whether a second
        backward must be refused: it needs saved values or the result."""
        inputs = self.inputs
        self.released = self.out_version is not None or any(
            inputs[i].shape or inputs[i].requires_grad for i in self.saved)
        self.inputs = tuple(
            x if p is x or not x.shape and not x.requires_grad or x._value is None
            and x._tracer is None else _shell(x, p)
            for x, p in zip(inputs, self.parents))
        self.out = None


#: inputs of at most this many elements are always kept: a shell would save next to
#: nothing, and their values let gradcheck test each op of a small graph on its own
SMALL = 256


def _held(inputs, parents, saved) -> tuple:
    """What a node keeps of its inputs: the saved ones, leaves and tensors without
    history (the caller's data: a shell would free nothing), small ones, symbols (no
    memory), and the results of nodes that read their own result (their VJP needs it,
    and this is what keeps it alive without a cycle). The other results (a sum's
    operand, what a tanh consumed) become shells, so their arrays are freed as soon as
    the user drops them, not when the graph dies."""
    if len(saved) == len(inputs):
        return inputs
    return tuple(
        x if i in saved or p is x or p is None or x._value is None
        or math.prod(x.shape) <= SMALL
        or isinstance(p, Ctx) and p.out_version is not None else _shell(x, p)
        for i, (x, p) in enumerate(zip(inputs, parents)))


def _shell(t, ctx):
    """A stand-in with `t`'s shape, dtype, backend and history but no value (for a freed
    input): walkers of the graph (viz, gradcheck) still see its structure."""
    s = Tensor._symbolic(None, None, t.shape, t.dtype, t._backend)
    s.requires_grad = t.requires_grad
    s._ctx = ctx
    return s


#: Nodes whose result keeps its gradient at backward() (`retain_grad()` on a non-leaf);
#: a node leaves the set with the graph it belongs to.
RETAINING: weakref.WeakSet = weakref.WeakSet()

#: PyTorch's names for the backward of ops whose graphgrad name differs from its own.
_TORCH_NAMES = {"identity": "Clone", "matmul": "Mm", "pow_scalar": "Pow",
                "broadcast_to": "Expand", "reshape": "View", "index": "Index",
                "concat": "Cat", "relu": "Relu", "log_softmax": "LogSoftmax"}


class BackwardNode:
    """What `t.grad_fn` is: the recorded op, named as PyTorch names it (`MulBackward0`),
    with `next_functions` pointing at the inputs' nodes (None for leaves and constants)."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Ctx):
        self._ctx = ctx

    def name(self) -> str:
        op = self._ctx.op.name
        camel = _TORCH_NAMES.get(op) or "".join(w.capitalize() for w in op.split("_"))
        return f"{camel}Backward0"

    @property
    def next_functions(self) -> tuple:
        return tuple((t.grad_fn, 0) for t in self._ctx.inputs)

    def __eq__(self, other) -> bool:
        if isinstance(other, str):  # `t.grad_fn == "mul"`: the op's own name
            return other in (self._ctx.op.name, self.name())
        return isinstance(other, BackwardNode) and other._ctx is self._ctx

    def __hash__(self) -> int:
        return id(self._ctx)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self._ctx):#x}>"


class Tensor:
    __slots__ = (
        "_value", "_node", "_tracer", "shape", "dtype", "_requires_grad", "_ctx", "_grad",
        "_vc", "_backend", "_base", "_steps", "_linked", "_views", "__weakref__",
    )
    __array_priority__ = 1000  # so `ndarray * Tensor` calls Tensor.__rmul__
    weak = False  # True for WeakScalar: promotes like a Python number

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
        t._make_root()
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
        from .backends.registry import default_backend
        from .creation import as_array

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
        """The value as a NumPy array (copied off the device when the backend has one)."""
        value = self._concrete(".numpy()")
        return self._backend.to_numpy(value)

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

    def __hash__(self):
        return id(self)

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

    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` (see autodiff.backward)."""
        from .autodiff import backward

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

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
            elif isinstance(arg, Device) or (isinstance(arg, str) and arg not in dtypes._ALIASES
                                             and not dtypes.names_a_dtype(arg)):
                device = arg  # ("complex64" names a dtype: a dtype error, not a backend)
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

    def astype(self, dtype) -> Tensor:
        from .ops.elementwise import cast

        return cast(self, dtypes.as_dtype(dtype))

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

    def clone(self) -> Tensor:
        from .ops.elementwise import identity

        return identity(self)

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
            arr = self._backend.to_numpy(self._value)
            body = np.array2string(arr, separator=", ", precision=4, prefix="tensor(")
        return "tensor(" + ", ".join([body] + extra) + ")"


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


class WeakScalar(Tensor):
    """A symbolic Python number (e.g. a learning rate read at each call of a compiled plan):
    in type promotion it behaves like the number, so `lr * grad` stays float32."""

    __slots__ = ()
    weak = True


def tensor_method(name: str | None = None):
    """Decorator: expose a public op function as a Tensor method too (PyTorch's name)."""

    def register(fn):
        setattr(Tensor, name or fn.__name__, fn)
        return fn

    return register
