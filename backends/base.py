"""The `Backend` contract: what a plugin provides so graphgrad can run on it.

A backend is a class registered under the entry-point group `graphgrad.backends`.
It converts arrays to and from NumPy, holds one kernel per op name
(`kernels[name](*arrays, **attrs) -> array`), draws random numbers from its own seeded
generator, and compiles fused elementwise programs. Everything else (tracing,
autodiff, passes, scheduling) is the engine's and is shared by every backend.

**The array type** is the backend's own (a NumPy array, a CuPy array, a wrapper around
a tensor library's tensor). The engine reads only these attributes of it: `.shape`
(a tuple of ints), `.dtype` (a `numpy.dtype`: float32, float64, int64 or bool; a
`torch.Tensor`, whose dtype is `torch.float32`, needs a thin wrapper) and `.ndim`
(checked by the suite); with `flat_state`, it also assigns `flat[...] = x`. Kernels
are only ever handed this type, Python numbers, and what the backend's own kernels
return. A 0-d result is a 0-d
array (or a NumPy scalar), never a Python number.

**The rules** a backend follows are `RULES` below, by name; `graphgrad ops` prints
every op's operands, attributes and result rule (docs/ops.md), and the conformance
suite (`graphgrad conformance NAME`) checks each rule and names it when one is broken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: The contract's rules, by the name the conformance suite cites when one is broken.
RULES: dict[str, str] = {
    "array-type": "a kernel returns the backend's array type, with .shape (a tuple), "
                  ".dtype (a numpy.dtype) and .ndim, also for 0-d results: never a Python "
                  "number",
    "result-type": "a kernel's result has exactly the shape and dtype of the op's rule "
                   "(REGISTRY[op].infer; see `graphgrad ops`)",
    "no-input-writes": "a kernel never writes into its operands (only a fused kernel "
                       "writes, and only into the out= buffers it is handed)",
    "new-result": "the kernel of an op not marked 'may return a view' returns a new array, "
                  "never an operand or a view of one (a plan may later write into it while "
                  "the operand lives on)",
    "python-numbers": "kernels and fused kernels accept Python numbers (float, int, bool) "
                      "wherever they accept a 0-d array beside an array operand, with the "
                      "result the 0-d array would give, and cast takes a Python number alone "
                      "(giving a 0-d array of its dtype): a compiled plan reads optimizer "
                      "hyperparameters (the learning rate) as Python floats and casts them",
    "from-numpy-copies": "from_numpy returns an array that shares no memory with the "
                         "caller's NumPy array (which the caller may change afterwards)",
    "to-numpy": "to_numpy returns a numpy.ndarray with the array's shape, dtype and "
                "values (it may share memory with the array)",
    "specialize-agrees": "a kernel returned by specialize(op, arg_types, attrs) gives what "
                         "kernels[op](*arrays, **attrs) gives: same shape, dtype and values",
    "out-aliasing": "a fused kernel's out= buffers may be its own inputs; it reads every "
                    "input before it writes an out= buffer that is that input, so its "
                    "results equal those computed without out=",
    "pack-copies": "pack(arrays) returns a new 1-d array holding the arrays' elements one "
                   "after another, sharing memory with none of them",
    "views-share-memory": "views(flat, shapes) returns arrays over consecutive parts of "
                          "flat that share its memory: after flat[...] = x they read x's "
                          "values",
    "column-major-values": "column_major(x) returns x's values in x's shape, only stored "
                           "column-major (never the transpose), and every kernel accepts it",
    "all-reduce-start-agrees": "all_reduce_start(x, op, group) returns a callable whose "
                               "result is what kernels['all_reduce'](x, op=op, group=group) "
                               "gives (shape, dtype, values), and leaves x unchanged",
    "compiled-matches-numpy": "a compiled training step on the backend gives the NumPy "
                              "backend's losses, gradients, parameters and optimizer state",
}


def rule(name: str) -> str:
    """The rule `name` as the suite cites it in a failure message."""
    return f"[contract rule '{name}': {RULES[name]}]"


class Inline:
    """A specialization the plan calls directly as `fn(*arrays, *tail)`: its constant
    trailing arguments (an axis, a flag) are written into the plan's line, so the call
    costs no Python closure in between (a fraction of a microsecond, per node, per step:
    the whole budget of a tiny model's step). Called with the arrays alone it does the
    same, so it is an ordinary specialized kernel everywhere else."""

    __slots__ = ("fn", "tail")

    def __init__(self, fn: Callable, *tail):
        self.fn, self.tail = fn, tail

    def __call__(self, *arrays):
        return self.fn(*arrays, *self.tail)


class Expression:
    """A specialization the plan writes out as a Python expression over its operands,
    `text` naming them `{0}`, `{1}`, ...: `"{0}.T"`, `"{0}.reshape((32, 4))"`,
    `"{0}.take({1}, 0)"`. A view or a method call then costs no Python function call in
    between (~0.1 us per node, per step). `fn` does the same when called, so it is an
    ordinary specialized kernel everywhere else. `text` may use only the operands and
    literals (it is code in the plan's own namespace)."""

    __slots__ = ("text", "fn")

    def __init__(self, text: str, fn: Callable):
        self.text, self.fn = text, fn

    def __call__(self, *arrays):
        return self.fn(*arrays)


class Backend:
    """Base class of backend plugins; subclass it and fill `kernels`.

    Subclassing `graphgrad.backends.numpy_backend.NumpyBackend` instead gives a working
    backend at once (every kernel, the fused-kernel compiler, the optional members),
    to replace piece by piece; the conformance suite says what still differs.
    """

    #: The name users pass to `gg.compile(backend=...)` and `Tensor.to(...)`; it must be
    #: the entry point's name.
    name: str = "?"
    #: Op names this backend does not implement: the suite reports them as unsupported
    #: (not failed), and using one must raise `gg.BackendError` naming the op.
    unsupported_ops: frozenset[str] = frozenset()
    #: dtype names ("float64", ...) this backend does not hold: `from_numpy` of such an
    #: array must raise a `gg.GraphgradError` naming the dtype.
    unsupported_dtypes: frozenset[str] = frozenset()
    #: Conformance test ids, fnmatch patterns over them, or op names expected to fail,
    #: with the reason: the report lists them as expected failures, never as passes.
    expected_failures: dict[str, str] = {}

    def __init__(self):
        #: op name (a key of `graphgrad.ops.REGISTRY`) -> kernel. A kernel is called as
        #: `kernel(*operands, **attrs)`: the operands are this backend's arrays, already
        #: promoted to the dtypes the op's rule expects, or Python numbers (rule
        #: 'python-numbers'); the attributes are keywords, listed per op by
        #: `graphgrad ops`. It returns a new array of the shape and dtype the op's rule
        #: gives (rules 'array-type', 'result-type'), or, for ops marked "may return a
        #: view", possibly a view of its first operand; it never writes into an operand
        #: (rule 'no-input-writes'). A kernel that raises on operands that do not fit
        #: is turned into a graphgrad error naming the op.
        self.kernels: dict[str, Callable] = {}

    # ------------------------------------------------------------------ availability
    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(usable, reason when not): e.g. (False, "no CUDA device"). Called before the
        class is instantiated, so a missing library or device makes the backend
        unavailable with a reason instead of breaking `import graphgrad`."""
        return True, ""

    # ------------------------------------------------------------------ arrays
    def from_numpy(self, array: np.ndarray):
        """This backend's array holding a copy of `array` (float32, float64, int64 or
        bool; 0-d, empty or non-contiguous), with the same shape and dtype. It must
        copy: the caller may change `array` afterwards, and `Tensor.to(...)` and the
        arguments of a compiled step rely on that (rule 'from-numpy-copies')."""
        raise NotImplementedError(f"backend {self.name} must implement from_numpy")

    def to_numpy(self, array) -> np.ndarray:
        """`array` as a `numpy.ndarray` with its shape, dtype and values (rule
        'to-numpy'). It may share memory with `array` (the NumPy backend returns the
        array itself); callers copy when they keep it."""
        raise NotImplementedError(f"backend {self.name} must implement to_numpy")

    def takes_arrays_of(self, other: Backend) -> bool:
        """Whether `other`'s arrays serve this backend as they are, so a compiled step on
        this backend reads a tensor of `other` without a copy per call (Numba's plans
        take the NumPy backend's arrays). Only when both hold the same kind of array in
        the same memory; the default: only its own."""
        return other is self

    def seed(self, seed: int) -> None:
        """Reset this backend's random generator (called by `gg.manual_seed`): after it,
        the random kernels (`rand`, `randn`, `randint`, `randperm`) draw the same numbers
        again."""

    def synchronize(self) -> None:
        """Wait for queued work (asynchronous devices); used by benchmarks. The default
        does nothing (synchronous backends)."""

    def __deepcopy__(self, memo):
        """The backend itself: a backend is a registry singleton (it owns the kernels
        and the RNG), so deep copies of tensors and modules share it."""
        return self

    def specialize(self, op: str, arg_types, attrs: dict) -> Callable | None:
        """Optionally, a kernel for one node of a plan: `op` with these attributes on
        arguments of these (shape, dtype) types (`arg_types`: a list of (tuple of ints,
        numpy.dtype)), called with the arrays alone (no attributes). Lowering binds it
        instead of `kernels[op]`, so choices a kernel would make at every call (which
        algorithm suits these shapes) are made once. It must honour every attribute
        (`keepdims` included) and give what `kernels[op](*arrays, **attrs)` gives
        (rule 'specialize-agrees'). None: use `kernels[op]`. Asked only for ops in
        `kernels` (a subclass that removes a kernel removes its specializations too).
        An `Inline(fn, *constants)` is called as `fn(*arrays, *constants)`, written
        out in the plan's line; an `Expression(text, fn)` is written out as `text`."""
        return None

    #: Optional: a method `column_major(array)` giving the array's values, in its shape,
    #: stored in column-major order (rule 'column-major-values'). The `layout` pass then
    #: keeps weights that matmuls only read transposed that way (for BLAS libraries whose
    #: `x @ W.T` is slower than `x @ W`); every kernel must accept such arrays.
    column_major: Callable | None = None

    #: Optional: a method `all_reduce_start(x, op, group) -> wait`, where `wait()` gives what
    #: `kernels["all_reduce"](x, op=op, group=group)` gives. A plan then starts each
    #: all-reduce as soon as its operand exists and waits just before the first use of
    #: its result, so the communication overlaps the rest of the backward pass
    #: (passes/schedule.py places the all-reduces' users late). x must not be written
    #: meanwhile (it is not: kernels never write their operands). Rule
    #: 'all-reduce-start-agrees'.
    all_reduce_start: Callable | None = None

    #: Optional: a method `wrap_plan(run, graph, namespace) -> Callable | None`, given
    #: each lowered per-kernel plan: `run(*arrays)` its function, `graph` the optimized
    #: Graph, `namespace` the globals its code reads (the kernels it binds, by name;
    #: the backend may replace its own kernels there). It returns a callable that gives
    #: what `run` gives (say, `run` inside a library setting made once per call rather
    #: than once per kernel), or None to keep `run`. Plans built for anomaly mode are
    #: not given to it.
    wrap_plan: Callable | None = None

    # ------------------------------------------------------------------ whole plans
    #: Optional: a method `compile_plan(request) -> Callable` through which a backend
    #: takes over a whole lowered plan (a code-generating backend compiles one native
    #: function per plan). `request` is a `graphgrad.runtime.PlanRequest`: the optimized
    #: graph, its schedule, the nodes whose values the callable receives (the plan's
    #: arguments, state values and constants, in `request.arguments` order) and those it
    #: returns (`request.results`, a tuple in that order). The engine keeps reading and
    #: writing state, so the callable sees arrays and Python numbers only. It may write
    #: into a state array it is handed where the fused node's `reuse` hint allows (rule
    #: 'out-aliasing'); a callable whose `in_place` attribute names state-write results
    #: stores those into the state arrays they overwrite and leaves them out of the
    #: tuple it returns; one whose `held` attribute names constants of
    #: `request.arguments` holds their values itself (written into its code) and is
    #: called without them. A plan it cannot take raises `PlanUnsupported(reason)`, at once
    #: or at its first call (before writing anything): the engine then runs the
    #: per-kernel plan and says why in `Executable.backend_info`. None: never.
    compile_plan: Callable | None = None

    # ------------------------------------------------------------------ flat state
    #: Whether `pack` and `views` work (and the array type supports `flat[...] = x`).
    #: The `foreach` pass then keeps small parameters and their optimizer state in one
    #: flat buffer per role and updates them all with one fused kernel (see
    #: graphgrad/passes/foreach.py).
    flat_state: bool = False

    def pack(self, arrays) -> object:
        """A new 1-d array holding `arrays` (one dtype) one after another, in C order,
        sharing memory with none of them (rule 'pack-copies')."""
        raise NotImplementedError(f"backend {self.name} does not implement pack")

    def views(self, flat, shapes) -> list:
        """Arrays of these shapes over consecutive parts of `flat` (C order), sharing its
        memory: writing into `flat` (`flat[...] = x` or a kernel's `out=`) changes them
        (rule 'views-share-memory')."""
        raise NotImplementedError(f"backend {self.name} does not implement views")

    # ------------------------------------------------------------------ fusion
    #: Whether `compile_fused` takes programs that end with full sums (`sum` steps over
    #: every axis, see graphgrad/ir/fused.py `is_full_sum`): the fusion pass then moves
    #: a loss's sum into the program that computes its terms. The default `compile_fused`
    #: runs them as it runs any step; a backend with its own fused kernels says True
    #: only when they reduce as well.
    fused_reductions: bool = False

    def compile_fused(self, program) -> Callable:
        """A callable running a fused elementwise program (`graphgrad.ir.fused.FusedProgram`).

        It is called with the program's inputs (arrays or Python numbers) and returns
        one array for a one-output program, else a tuple in `program.outputs` order,
        each of the program's declared shape and dtype. It may be given
        `out=(array or None, ...)`, one per output: buffers the plan no longer needs,
        which the kernel may write its results into (and return) to save allocations;
        such a buffer may be one of the program's own inputs (an update overwriting its
        parameter), so every input must be read before its buffer is written (rule
        'out-aliasing'). Ignoring `out` is always correct. The default runs the
        program's steps one kernel at a time: correct everywhere, fast nowhere.
        Backends override it with a real fused kernel.
        """
        kernels = [(self.kernels[step.op], step.args, step.attrs) for step in program.steps]
        n_in, outputs = program.n_inputs, program.outputs
        single = len(outputs) == 1

        def run(*arrays, out=None):  # `out` is a hint this simple version ignores
            regs = list(arrays) + [None] * len(kernels)
            for i, (kernel, args, attrs) in enumerate(kernels):
                regs[n_in + i] = kernel(*[regs[a] for a in args], **attrs)
            return regs[outputs[0]] if single else tuple(regs[o] for o in outputs)

        return run


@dataclass(frozen=True)
class PlanRequest:
    """What the engine hands `Backend.compile_plan`: the optimized `graph`, its schedule
    (`order`: every node in run order), the nodes whose values the compiled callable
    receives as positional arguments (`arguments`: the plan's inputs, state reads and
    constants) and the nodes whose values it returns, as a tuple (`results`: the plan's
    outputs, input gradients and state-write values, each once), and the plan's name."""

    graph: object
    order: tuple[int, ...]
    arguments: tuple[int, ...]
    results: tuple[int, ...]
    name: str = "plan"


class PlanUnsupported(Exception):
    """Raised by `Backend.compile_plan` (or the callable it returned, at its first call)
    for a plan it does not take over; the message is the reason, in one line."""


def run_parts(parts, n_outputs: int) -> Callable:
    """One fused kernel from the kernels of a split program's parts
    (`ir.fused.split_by_output_shape`): they run in turn, and their outputs are
    gathered in program order."""

    # A buffer the plan hands in may be an argument a later kernel still reads
    # (rule 'out-aliasing'): such a buffer is not handed to the earlier part.
    read_later = [sorted({a for _, ins, _ in parts[i + 1:] for a in ins})
                  for i in range(len(parts))]

    def run(*arrays, out=None):
        results = [None] * n_outputs
        for (kernel, ins, outs), later in zip(parts, read_later):
            args = [arrays[a] for a in ins]
            given = None
            if out is not None:
                given = tuple(None if out[j] is None or any(out[j] is arrays[a] for a in later)
                              else out[j] for j in outs)
            value = kernel(*args, out=given)
            for j, v in zip(outs, value if len(outs) > 1 else (value,)):
                results[j] = v
        return tuple(results)

    return run
