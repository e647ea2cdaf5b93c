"""The eager autograd graph's nodes: `Ctx` (how a tensor was made, what its op saved)
and `BackwardNode` (what `t.grad_fn` shows, in PyTorch's names).

A Ctx is created by `ops.registry.apply` for every recorded op and walked by
`autodiff.py`; it knows tensors only by their fields (values, version counters,
`_ctx`), so this module sits below `tensor.py`.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .tensor import Tensor

#: In an op's `saves` rule, the position that stands for the op's result (exp, tanh,
#: softmax read their output, as PyTorch's saved `result`).
RESULT = "result"


class Ctx:
    """How a tensor was made: one node of the eager autograd graph.

    `parents` are the nodes the inputs stood for when the op ran (their `Ctx`, or the
    leaf tensor itself), fixed at creation, so an in-place op that later gives an input
    a new history does not reroute this node's gradient (PyTorch's graph of nodes, not
    of tensors). `saved` are the input positions that the op saves for its gradient (its
    `saves` rule, PyTorch's choice): only those are version-checked, and `release()`
    (backward without retain_graph) frees them. When the rule names the `RESULT`, the
    result's memory is version-checked too (`out_vc`, the version counter of whatever
    tensor holds that memory now). `out` is a weak reference to the result's value
    before any in-place change (a strong one would be a reference cycle). A node holds
    only what some VJP will read (see `_held`): an intermediate that no VJP reads is
    freed as soon as the user drops it, as PyTorch frees it.
    """

    __slots__ = ("op", "inputs", "attrs", "versions", "parents", "saved", "out", "out_vc",
                 "out_version", "extra", "released", "__weakref__")

    def __init__(self, op, inputs, attrs, out=None):
        self.op = op
        self.attrs = attrs
        self.parents = tuple(x._ctx if x._ctx is not None else x if x.requires_grad else None
                             for x in inputs)
        rule = op.saves
        saved = (*range(len(inputs)), RESULT) if rule is None else tuple(rule(
            tuple(p is not None for p in self.parents)))
        self.saved = tuple(i for i in saved if i != RESULT)
        self.versions = tuple(inputs[i]._version for i in self.saved)
        self.out = None if out is None else weakref.ref(out)
        keeps_out = RESULT in saved and out is not None
        self.out_vc = out._vc if keeps_out else None
        self.out_version = out._version if keeps_out else None
        self.extra = ()  # (tensor, version, function) a composite saves (saves_also)
        self.inputs = _held(inputs, self.parents, self.saved)
        self.released = False

    def release(self) -> None:
        """Free what backward needed (PyTorch frees saved tensors unless retain_graph).

        Leaves stay (the caller owns them), and so do 0-d constants (Python numbers: a
        `mean`'s 1/n) and engine-made constants (diagonal's indices). The others become
        value-less shells that keep the graph's shape (a result that a node not yet
        walked reads as its own is handed over before this, and given back if that node
        is never walked: autodiff._Release). `released` then says whether a second
        backward must be refused: as in PyTorch, whenever the op saved anything (a
        Python number it multiplied by included), except an engine-made `Constant` (a
        `mean`'s 1/n: PyTorch's mean saves nothing)."""
        inputs = self.inputs
        self.released = self.out_version is not None or bool(self.extra) or any(
            not inputs[i].engine_constant for i in self.saved)
        self.extra = ()
        self.inputs = tuple(
            x if p is x or not x.shape and not x.requires_grad or x.engine_constant
            or x._value is None and x._tracer is None else _shell(x, p)
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


def saves_also(by: str, result: Tensor, *tensors: Tensor | None,
               result_too: bool = False) -> Tensor:
    """Make backward through `result` check that `tensors` (and with `result_too`, the
    result itself) were not changed in place since, and refuse a second backward: what
    PyTorch's fused op saves, for a function graphgrad composes of smaller ops (gelu,
    std, mse_loss...), whose own nodes save only intermediates. `by` names the function
    in the error. Returns `result`."""
    ctx = result._ctx
    if ctx is None:
        return result
    ctx.extra += tuple((t, t._version, by) for t in tensors if t is not None)
    if result_too and ctx.out_vc is None:
        ctx.out_vc, ctx.out_version = result._vc, result._version
    return result


def _shell(t, ctx):
    """A stand-in with `t`'s shape, dtype, backend and history but no value (for a freed
    input): walkers of the graph (viz, gradcheck) still see its structure."""
    s = type(t)._symbolic(None, None, t.shape, t.dtype, t._backend)
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
