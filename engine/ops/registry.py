"""The op registry: one `Op` per primitive, and `apply`, the single door every op goes through.

An Op is a name plus small rules, registered right under its definition in the group
files (`elementwise.py`, `reduction.py`, ...), in the manner of JAX's autodidax:

- `infer(*inputs, **attrs) -> (shape, dtype)`: the shape/dtype rule (used while tracing,
  by `Graph.verify`, and to explain an eager kernel's failure);
- `vjp(g, out, *inputs, **attrs) -> tuple`: the reverse-mode rule, one cotangent per
  input (None where there is none), written with Tensor ops so it runs eagerly and
  while tracing alike. A rule may return a zero-argument callable instead of a
  cotangent that is costly (matmul's); autodiff calls it only when that input
  needs a gradient;
- `jvp(tangents, out, *inputs, **attrs) -> Tensor | None`: the forward-mode rule,
  `tangents` one per input (None for a zero tangent), also written with Tensor ops;
  the result may be broadcastable to `out` (see `forward_ad.propagate`);
- `elementwise`: whether the fusion pass may merge it into a fused kernel;
- `random`: it draws from the backend's generator (never folded, CSE'd or reordered);
- `view`: its result may share memory with its first input (a reshape, a slice), so
  memory planning never writes into it while that input lives on;
- `document(doc, result=..., operands=..., **attrs)`: what the op computes, its result
  rule and each attribute's type and meaning, in words: the op reference a backend
  author implements kernels from (`graphgrad ops`, docs/ops.md).

Backends provide a kernel per op name; nothing else needs to change to add an op.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import anomaly, forward_ad, grad_mode
from ..backends.registry import default_backend
from ..dtypes import short
from ..errors import (
    AllocationError,
    BackendError,
    DtypeError,
    GraphgradError,
    IndexingError,
    ShapeError,
    TracingError,
)
from ..ir import tracing, verify
from ..source import user_source
from ..tensor import RESULT, Ctx, Tensor  # noqa: F401  (RESULT: for the op groups' rules)

REGISTRY: dict[str, Op] = {}
verify.use_rules(REGISTRY)  # Graph.verify checks nodes against these rules


class Op:
    """A primitive operation: its name and its rules (see the module docstring)."""

    def __init__(self, name: str, *, elementwise: bool = False, differentiable: bool = True,
                 random: bool = False, view: bool = False, checked: bool = False):
        if name in REGISTRY:
            raise ValueError(f"op {name!r} is registered twice")
        self.name = name
        self.elementwise = elementwise
        self.differentiable = differentiable
        self.random = random
        self.view = view
        # an eager call runs the shape/dtype rule before the kernel, for ops whose kernel
        # would broadcast or mix dtypes without a word where the rule refuses (other ops
        # run it only to explain a kernel's failure, and always while tracing)
        self.checked = checked
        # op(x, y) == op(y, x) exactly (add, mul, maximum, ==): CSE merges both orders
        self.commutative = False
        # need -> what the op saves for its gradient, as PyTorch saves it: input positions
        # and/or RESULT, given which inputs need a gradient (None: all inputs and the
        # result). Only those are version-checked and kept after backward (tensor.Ctx);
        # they must include everything the VJP reads, the result too: a VJP that reads
        # `out` must save RESULT. Helpers: saves_none, saves, saves_others
        self.saves: Callable | None = None
        self.infer: Callable | None = None
        self.vjp: Callable | None = None
        self.jvp: Callable | None = None
        self.samples: Callable | None = None  # () -> iterable of Sample, for tests/conformance
        self.doc = ""  # what the kernel computes (see `document`)
        self.result = ""  # the result's shape and dtype, in words
        self.operands: tuple[str, ...] | None = None  # names; None: infer's parameters
        self.attr_docs: dict[str, str] = {}  # attribute -> "type: meaning"
        REGISTRY[name] = self

    def __repr__(self) -> str:
        return f"Op({self.name!r})"

    def __call__(self, *inputs: Tensor, **attrs) -> Tensor:
        return apply(self, inputs, attrs)

    def document(self, doc: str, *, result: str | None = None, operands=None,
                 **attrs: str) -> Op:
        """Describe the op for backend authors: `doc` says what a kernel computes (NumPy's
        name for it where there is one), `result` the result rule in words, `operands`
        the operand names, and each keyword an attribute as "type: meaning". Kept
        beside the op's other rules, so the op reference (`graphgrad ops`) is generated
        from the registry and stays one definition per op."""
        self.doc = doc
        if result is not None:
            self.result = result
        if operands is not None:
            self.operands = tuple(operands)
        self.attr_docs.update(attrs)
        return self


def saves_none(need) -> tuple:
    """A `saves` rule: nothing (sums, shape changes: their VJPs read only shapes)."""
    return ()


def saves(*positions) -> Callable:
    """A `saves` rule: these input positions (and/or RESULT) whenever the op is recorded."""
    return lambda need: positions


def saves_others(need) -> tuple:
    """A `saves` rule for a product of two factors (mul, matmul, conv): each needed
    gradient reads the other factor."""
    return tuple(1 - i for i in (0, 1) if need[i])


def get_op(name: str) -> Op:
    try:
        return REGISTRY[name]
    except KeyError:
        raise GraphgradError(f"no op named {name!r}; known ops: {', '.join(sorted(REGISTRY))}")\
            from None


def describe_operands(inputs) -> str:
    return ", ".join(f"{short(t.dtype)}{list(t.shape)}" for t in inputs)


def apply(op: Op, inputs: tuple[Tensor, ...], attrs: dict) -> Tensor:
    """Run `op` on `inputs`: call the kernel now, or add a node to the graph being traced."""
    tracer = tracing.current
    if tracer is None:
        out = _run_eager(op, inputs, attrs)
    else:
        out = _add_to_trace(tracer, op, inputs, attrs)
    if grad_mode._enabled and op.differentiable and out.dtype.kind == "f":
        for t in inputs:
            if t.requires_grad:
                out.requires_grad = True
                out._ctx = Ctx(op, inputs, attrs, out)
                break
    if op.view and inputs:
        _mark_view(op, inputs[0], attrs, out)
    if forward_ad._active:
        forward_ad.propagate(op, inputs, attrs, out)
    if anomaly.enabled:  # gg.detect_anomaly(): check the result for NaN/Inf
        anomaly.check_op(op, inputs, attrs, out)
    return out


def _mark_view(op: Op, x: Tensor, attrs: dict, out: Tensor) -> None:
    """A view op's result shares its input's memory (engine/views.py), except an index
    with integer-array parts (a gather, a copy, as in PyTorch)."""
    if op.name == "index" and any(s[0] == "tensor" for s in attrs["spec"]):
        return
    expands = op.name == "broadcast_to" and out.numel() != x.numel()
    x._mark_view(out, (op, attrs, expands))


def _backend_of(op: Op, inputs):
    if not inputs:
        return default_backend()
    backend = inputs[0]._backend
    for t in inputs[1:]:
        if t._backend is not backend:
            raise BackendError(
                f"{op.name}: operands live on different backends "
                f"({', '.join(t._backend.name for t in inputs)}); move them with .to(name)",
                op=op.name, source=user_source(),
            )
    return backend


def _run_eager(op: Op, inputs, attrs) -> Tensor:
    if op.checked:
        infer_checked(op, inputs, attrs)
    backend = _backend_of(op, inputs)
    try:
        kernel = backend.kernels[op.name]
    except KeyError:
        raise BackendError.no_kernel(backend, op.name, user_source()) from None
    try:
        value = kernel(*[t._value for t in inputs], **attrs)
    except GraphgradError:
        raise
    except Exception as exc:
        raise explain_failure(op, inputs, attrs, exc) from None
    return Tensor._wrap(value, backend)


def explain_failure(op: Op, inputs, attrs, exc: Exception) -> GraphgradError:
    """Turn a kernel's own error into one in the user's terms (op, shapes, dtypes, line)."""
    if op.infer is not None:
        try:
            infer_checked(op, inputs, attrs)
        except GraphgradError as rule_error:
            return rule_error
    src = user_source()
    for t in inputs:
        if t._value is None:
            return TracingError(f"{op.name} received a symbolic tensor outside a trace",
                                op=op.name, source=src)
    return failure_class(exc)(
        f"{op.name} failed on operands {describe_operands(inputs)} "
        f"with attributes {attrs or '{}'}: {exc}",
        op=op.name, source=src,
    )


def failure_class(exc: Exception) -> type:
    """The graphgrad error for a kernel's own exception (NumPy: TypeError means dtypes)."""
    if isinstance(exc, MemoryError):
        return AllocationError
    if isinstance(exc, TypeError):
        return DtypeError
    if isinstance(exc, IndexError):
        return IndexingError  # still a ShapeError, and an IndexError as Python's
    if isinstance(exc, ValueError):
        return ShapeError
    return GraphgradError


def infer_checked(op: Op, inputs, attrs):
    """Run the op's shape/dtype rule, attaching the user's line to any error it raises."""
    try:
        return op.infer(*inputs, **attrs)
    except GraphgradError as e:
        if e.source is None:
            e.source = user_source()
            e.args = (f"{e.args[0]} (at {e.source})",)
        raise


def _add_to_trace(tracer, op: Op, inputs, attrs) -> Tensor:
    shape, dtype = infer_checked(op, inputs, attrs)
    args = [tracer.node_of(t) for t in inputs]
    backend = inputs[0]._backend if inputs else tracer.backend
    node = tracer.add(op.name, args, attrs, shape, dtype)
    return Tensor._symbolic(tracer, node, shape, dtype, backend)
