"""A whole lowered plan as one Numba function (the Numba backend's `compile_plan`).

`compile_plan(request)` writes one `@njit` function computing every node of the plan
in schedule order (numba_plan_ops.py emits each node: loop nests for elementwise
groups, `np.dot` for matmul, loops for reductions), with the user's `file:line` as a
comment on each node's first line. The function takes the plan's inputs, state values
and constants and returns its results; a fused update whose `reuse` hint names a state
buffer writes into it in place, as the per-kernel plan does. `parallel=True` only when a
loop nest is large enough to run under `prange` (parallel compilation costs seconds).

The module text goes to Numba's on-disk cache folder under a name made of its hash
(numba_codegen.load), so `cache=True` finds the compiled code and a second process
starts warm. A node no emitter covers raises `PlanUnsupported` at once; a typing error
Numba finds at the first call raises it then (nothing has run yet), and the engine
runs the per-kernel plan, saying why.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from graphgrad.ir.graph import SOURCE_OPS

from . import numba_codegen, numpy_blas
from .base import PlanRequest, PlanUnsupported
from .numba_plan_ops import EMITTERS, PARALLEL_MIN

_HELPERS = hashlib.sha256(
    Path(__file__).with_name("numba_gemm.py").read_bytes() +
    Path(__file__).with_name("numba_plan_kernels.py").read_bytes()
    + Path(__file__).with_name("numba_plan_ops.py").read_bytes()).hexdigest()[:16]


class _Gen:
    """The function being written: its lines, value names and reused buffers."""

    def __init__(self, request: PlanRequest):
        self.graph = request.graph
        self.lines: list[str] = []
        self.names: dict[int, str] = {}
        # an output written into an argument's buffer -> that buffer's name (reused)
        self.alias: dict[str, str] = {}
        # 2-d values held column-major (a weight the layout pass keeps in Fortran order,
        # a transpose of a row-major value): loop nests over them run column by column
        self.column_major: set[str] = set()
        self.parallel = False
        # Loop nests run under prange from this size, unless BLAS runs threads of its
        # own in this plan: OpenBLAS's threads spin after a GEMM, Numba's then wait for
        # a core (measured on the wide MLP, 2 cores: 1.7x the GEMM floor with parallel
        # loops, 1.16x serial). Small GEMMs run on one BLAS thread (compile_plan).
        self.parallel_min = PARALLEL_MIN if not _threaded_gemms(request.graph) \
            else float("inf")
        self.nests = itertools.count()
        self.base: dict[int, int] = {}  # value -> the buffer it may be a view of

    def emit(self, line: str, comment: str | None = None) -> None:
        text = f"    {line}"
        self.lines.append(f"{text:<60}  # {comment}" if comment else text)

    def unsupported(self, n, what: str):
        data = self.graph[n]
        operands = ", ".join(f"{self.graph[a]['dtype']}{list(self.graph[a]['shape'])}"
                             for a in self.graph.args(n))
        where = f" at {data['source']}" if data["source"] else ""
        raise PlanUnsupported(f"{what}: no whole-plan Numba code for {data['op']}"
                              f"({operands}){where}")

    def fused_outputs(self, n, count: int) -> list[str]:
        """Names of a fused node's outputs: its `get` nodes' (or its own, for one)."""
        if count == 1:
            return [self.names[n]]
        names = [f"v{n}_{j}" for j in range(count)]
        for s in self.graph.nx.successors(n):
            if self.graph[s]["op"] == "get":
                names[self.graph[s]["attrs"]["index"]] = self.names[s]
        return names

    def plan_reuse(self, n, args, outs, positions, later) -> None:
        """Write the outputs at `positions` into the argument buffers the memory planner
        freed for them (`reuse`), unless another argument may be a view of the same
        buffer or a later part of the program (`later`) still reads it."""
        graph = self.graph
        reuse = graph[n].get("reuse") or ()
        for j in positions:
            r = reuse[j] if j < len(reuse) else None
            if r is None or args[r] in later:
                continue
            a = args[r]
            out_type = graph[n]["attrs"]["program"].output_types[j]
            same = tuple(graph[a]["shape"]) == tuple(out_type[0]) != () and \
                np.dtype(graph[a]["dtype"]) == np.dtype(out_type[1])
            shared = any(b != a and self._root(b) == self._root(a) for b in args)
            if same and not shared and graph[a]["op"] not in ("input", "const"):
                self.emit(f"{outs[j]} = {self.names[a]}  # written in place")
                self.alias[outs[j]] = self.names[a]
                if self.names[a] in self.column_major:
                    self.column_major.add(outs[j])

    def _root(self, n) -> int:
        while n in self.base:
            n = self.base[n]
        return n


class Generated(NamedTuple):
    """A plan's Numba module text, and the state-write results it stores into the
    state's own array instead of returning them (the callable's `in_place`)."""
    text: str
    in_place: tuple[int, ...]


def plan_source(request: PlanRequest, name: str = "plan") -> str:
    """The module text of the plan's Numba function (see the module docstring)."""
    return generate(request, name).text


def generate(request: PlanRequest, name: str = "plan") -> Generated:
    gen = _Gen(request)
    graph = gen.graph
    params, held = [], held_constants(request)
    for k, n in enumerate(request.arguments):
        gen.names[n] = f"v{n}"
        if n in held:
            gen.emit(f"v{n} = {held[n]}", comment="constant")
            continue
        params.append(f"a{k}")
        gen.emit(f"v{n} = a{k}{_scalar_read(graph, n)}",
                 comment=graph[n].get("name") or graph[n]["op"])
        if graph[n]["attrs"].get("layout") == "F":  # passes/layout.py
            gen.column_major.add(f"v{n}")
    for n in request.order:
        if n not in gen.names:
            gen.names[n] = f"v{n}"
    for n in request.order:
        op = graph[n]["op"]
        if op in SOURCE_OPS or op == "get":
            continue
        emitter = EMITTERS.get(op)
        if emitter is None:
            gen.unsupported(n, f"op {op!r}")
        if op in ("permute", "reshape", "index", "check_index"):
            gen.base[n] = graph.args(n)[0]
        emitter(gen, n)
    scalars = scalar_states_in_place(request)
    for n in scalars:
        k = request.arguments.index(graph.state_reads[_state_written(graph, n)])
        gen.emit(f"a{k}[()] = {gen.names[n]}", comment="state written in place")
    in_place = scalars + arrays_in_place(request, gen)
    results = [_result(graph, gen.names[n], n) for n in request.results if n not in in_place]
    gen.emit(f"return ({', '.join(results)},)" if results else "return ()")
    return Generated("\n".join(_head(name, params, gen.parallel) + gen.lines) + "\n",
                     in_place)


def _head(name: str, params: list[str], parallel: bool) -> list[str]:
    """The module's imports and the function's decorator and signature."""
    flags = f"cache=True, error_model='numpy', parallel={parallel}, " \
            f"fastmath={{{', '.join(repr(f) for f in sorted(numba_codegen.FASTMATH))}}}"
    return [f"# generated by graphgrad.backends.numba_plan (helpers {_HELPERS}) from the "
            f"plan {name!r}",
            "import math", "import numpy as np",
            "from numpy import float32, float64, bool_, int64  # noqa: F401",
            "from numba import njit, prange  # noqa: F401",
            numba_codegen.MATH_IMPORT,
            "from graphgrad.backends.numba_plan_kernels import (  # noqa: F401",
            "    add_rows, array0, concatenate, contiguous, dot, empty, full,",
            "    gather_rows, gather_rows_backward, in_range, log_softmax_rows,",
            "    log_softmax_rows_backward, nll_rows, nll_rows_backward, take_rows, zeros)",
            "from graphgrad.backends.numba_gemm import gemm  # noqa: F401", "", "",
            f"@njit({flags})", f"def {name}({', '.join(params)}):"]


def held_constants(request: PlanRequest) -> dict[int, str]:
    """The plan's constants of one element (a mean's 1/n, a loss's weight, a folded
    gradient scale of shape (1,)) as literals of their dtype, written into the function
    instead of passed to it (the callable's `held`): Numba's dispatcher spends ~0.2 us
    on each argument of every call, as much as a small step's arithmetic, and making a
    one-element array in the function costs a fifth of that. The literal is the float64
    repr of the value, which a float32 takes back exactly; the value is part of the
    text, hence of its cache key."""
    graph, held = request.graph, {}
    for n in request.arguments:
        data = graph[n]
        shape = tuple(data["shape"])
        if data["op"] != "const" or math.prod(shape) != 1:
            continue
        value, kind = np.asarray(data["attrs"]["value"]).reshape(()), np.dtype(data["dtype"]).kind
        if kind == "f":
            v = float(value)
            text = repr(v) if math.isfinite(v) else \
                "np.nan" if math.isnan(v) else "np.inf" if v > 0 else "-np.inf"
        elif kind in "iu":
            text = repr(int(value))
        elif kind == "b":
            text = repr(bool(value))
        else:
            continue
        dtype = _np_name(data["dtype"])
        held[n] = f"{dtype}({text})" if shape == () else f"full({shape!r}, {text}, {dtype})"
    return held


def _scalar_read(graph, n) -> str:
    """How the function reads argument `n`: a 0-d array's item (`[()]`), or as it is
    (an array, or a Python number: a state read through a ScalarRef, such as `lr`).
    Spelled out rather than left to a polymorphic helper: each of a helper's types was
    one more compile (~0.15 s) in a cold process."""
    data = graph[n]
    if tuple(data["shape"]) != ():
        return ""
    refs = getattr(graph, "state_refs", {})
    if data["op"] == "state" and getattr(refs.get(data["name"]), "kind", None) == "scalar":
        return ""
    return "[()]"


def scalar_states_in_place(request: PlanRequest) -> tuple[int, ...]:
    """The 0-d state-write results the function stores into the state's own 0-d array
    (its argument), at its end, and does not return (the callable's `in_place`): an
    optimizer's update of a scalar parameter, in place as for any other parameter. The
    function reads a 0-d argument once, at its top (`[()]`), so the write clobbers no
    later read; a state whose value before the update is itself a result keeps its
    array. (The memory planner leaves 0-d values alone: the per-kernel plan may hold
    them as NumPy scalars.) Returning a 0-d array costs ~0.35 µs a call (Numba boxes a
    new array), a fifth of a small step's native call."""
    return tuple(n for n, _ in _tensor_state_writes(request)
                 if tuple(request.graph[n]["shape"]) == ())


def arrays_in_place(request: PlanRequest, gen: _Gen) -> tuple[int, ...]:
    """The state-write results that the function wrote into the state's own array,
    its argument (the memory planner's reuse, `_Gen.plan_reuse`): the wrapper's state
    already holds them, and returning an array costs ~0.3 µs a call (Numba boxes it
    again). A weight read column-major is left out: its argument may be a converted
    copy, which the wrapper stores back (runtime._state_read)."""
    graph, found = request.graph, []
    for n, read in _tensor_state_writes(request):
        if tuple(graph[n]["shape"]) == () or graph[read]["attrs"].get("layout") == "F":
            continue
        value = gen.names[n]
        while value in gen.alias:
            value = gen.alias[value]
        if value == gen.names[read]:
            found.append(n)
    return tuple(found)


def _tensor_state_writes(request: PlanRequest):
    """(result, the state read it replaces) for each result written to a tensor's state
    that the function takes as an argument, where neither is also a result the caller
    keeps (an output, an input's gradient, or the state's value before the update)."""
    graph = request.graph
    kept = {*graph.outputs, *graph.input_grads.values()}
    for n in request.results:
        name = _state_written(graph, n)
        read = graph.state_reads.get(name) if name is not None else None
        if n not in kept and read not in request.results and read in request.arguments \
                and graph.state_refs[name].kind == "tensor":
            yield n, read


def _state_written(graph, n):
    """The one state that result n is written to, or None."""
    names = [s for s, v in graph.state_writes.items() if v == n]
    return names[0] if len(names) == 1 else None


def _result(graph, name: str, n) -> str:
    """A returned value: a 0-d value goes back as a scalar of its dtype, which the
    wrapper makes a 0-d array (`_caller`)."""
    if tuple(graph[n]["shape"]) != ():
        return name
    return f"array0({name}, {_np_name(graph[n]['dtype'])})[()]"


def _caller(request: PlanRequest, in_place, pinned: bool) -> tuple[str, dict]:
    """The text of `run(*args)`, the plan's callable once its first call succeeded
    (`ready`): the Numba function, with OpenBLAS pinned to one thread around it where
    `pinned` (`get`, `put`), its 0-d results made arrays. Numba hands 0-d results back
    as Python scalars: `asarray` makes a 0-d array of one in ~0.1 µs, where Numba's
    boxing of a 0-d array costs ~0.7 µs (a small step returns three: its loss and two
    gradients). One generated function: each Python layer around a small step's
    native call cost ~0.3 µs, a tenth of the step."""
    graph = request.graph
    kept = [n for n in request.results if n not in in_place]
    items = [f"asarray(r[{i}], d{i})" if tuple(graph[n]["shape"]) == () else f"r[{i}]"
             for i, n in enumerate(kept)]
    boxed = f"({', '.join(items)},)" if any("asarray" in t for t in items) else "r"
    call = ["threads = get()", "put(1)", "try:", "    r = fn(*args)", "finally:",
            "    put(threads)"] if pinned else ["r = fn(*args)"]
    text = "\n".join(["def box(r):", f"    return {boxed}", "", "",
                      "def run(*args):", "    if ready:",
                      *(f"        {line}" for line in call),
                      f"        return {boxed}", "    return first(*args)", ""])
    return text, {f"d{i}": np.dtype(graph[n]["dtype"]) for i, n in enumerate(kept)}


def _np_name(dtype) -> str:
    name = np.dtype(dtype).name
    return "np.bool_" if name == "bool" else f"np.{name}"


def compile_plan(request: PlanRequest) -> Callable:
    """The plan's Numba function, loaded from (or written to) the disk cache, wrapped
    so a typing failure at the first call declines the plan (see the module docstring).
    A plan whose GEMMs are all small runs with BLAS pinned to one thread (numpy_blas.py:
    a second OpenBLAS thread makes small GEMMs up to 50x slower on a busy machine)."""
    name = "plan"
    text, in_place = generate(request, name)
    fn = getattr(numba_codegen.load_text(text, "gg_plan"), name)
    small = _small_gemms(request.graph)
    errors = _numba_errors()

    def first(*args):
        try:
            out = fn(*args)
        except errors as exc:
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            raise PlanUnsupported(f"Numba could not compile the plan: {lines[0]}") from exc
        if small:  # the BLAS the plan's GEMMs call (numba_plan_ops.matmul); SciPy's
            # OpenBLAS is loaded once Numba has typed np.dot
            switch = numpy_blas.switch() if numpy_blas.numpy_cblas_gemm() \
                else numpy_blas.scipy_switch()
            scope["get"], scope["put"] = switch or (lambda: 1, lambda n: None)
        scope["ready"] = True
        return scope["box"](out)

    text_run, dtypes = _caller(request, in_place, small)
    scope = {"fn": fn, "first": first, "ready": False, "asarray": np.asarray, **dtypes}
    exec(text_run, scope)  # noqa: S102 - our own text
    run = scope["run"]
    run.source = text
    run.in_place = in_place
    run.held = tuple(held_constants(request))
    return run


def _threaded_gemms(graph) -> bool:
    """Whether the plan has a matmul that BLAS may split over its threads."""
    return any(graph[n]["op"] == "matmul" for n in graph.nx) and not _small_gemms(graph)


def _small_gemms(graph) -> bool:
    """Whether the plan has matmuls and every one is below numpy_blas.SMALL_GEMM
    multiply-adds (a plan without any leaves BLAS alone: pinning costs ~1 µs a call)."""
    found = False
    for n in graph.nx:
        if graph[n]["op"] == "matmul":
            a, b = (graph[x]["shape"] for x in graph.args(n))
            if int(np.prod(a, dtype=np.int64)) * (b[-1] if len(b) == 2 else 1) \
                    >= numpy_blas.SMALL_GEMM:
                return False
            found = True
    return found


def _numba_errors() -> tuple:
    # Numba is optional: imported only once a plan is compiled (it is installed then)
    from numba.core.errors import LoweringError, TypingError, UnsupportedError

    return (TypingError, LoweringError, UnsupportedError)
