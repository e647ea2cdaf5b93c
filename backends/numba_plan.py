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
from collections.abc import Callable
from pathlib import Path

import numpy as np

from graphgrad.ir.graph import SOURCE_OPS

from . import numba_codegen, numpy_blas
from .base import PlanRequest, PlanUnsupported
from .numba_plan_ops import EMITTERS

_HELPERS = hashlib.sha256(
    Path(__file__).with_name("numba_plan_kernels.py").read_bytes()
    + Path(__file__).with_name("numba_plan_ops.py").read_bytes()).hexdigest()[:16]


class _Gen:
    """The function being written: its lines, value names and reused buffers."""

    def __init__(self, request: PlanRequest):
        self.graph = request.graph
        self.lines: list[str] = []
        self.names: dict[int, str] = {}
        self.reused: set[str] = set()
        self.parallel = False
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
                self.reused.add(outs[j])

    def _root(self, n) -> int:
        while n in self.base:
            n = self.base[n]
        return n


def plan_source(request: PlanRequest, name: str = "plan") -> str:
    """The module text of the plan's Numba function (see the module docstring)."""
    gen = _Gen(request)
    graph = gen.graph
    params = []
    for k, n in enumerate(request.arguments):
        gen.names[n] = f"v{n}"
        params.append(f"a{k}")
        convert = "as_scalar" if tuple(graph[n]["shape"]) == () else ""
        gen.emit(f"v{n} = {convert}(a{k})", comment=graph[n].get("name") or graph[n]["op"])
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
        if op in ("permute", "reshape", "index"):
            gen.base[n] = graph.args(n)[0]
        emitter(gen, n)
    results = [_result(graph, gen.names[n], n) for n in request.results]
    gen.emit(f"return ({', '.join(results)},)" if results else "return ()")
    flags = f"cache=True, error_model='numpy', parallel={gen.parallel}, " \
            f"fastmath={{{', '.join(repr(f) for f in sorted(numba_codegen.FASTMATH))}}}"
    head = [f"# generated by graphgrad.backends.numba_plan (helpers {_HELPERS}) from the "
            f"plan {name!r}",
            "import math", "import numpy as np",
            "from numpy import float32, float64, bool_, int64  # noqa: F401",
            "from numba import njit, prange  # noqa: F401",
            "from graphgrad.backends.numba_math import exp32, sigmoid32, tanh32  # noqa: F401",
            "from graphgrad.backends.numba_plan_kernels import (  # noqa: F401",
            "    add_rows, array0, as_scalar, concatenate, contiguous, dot, empty, full,",
            "    gather_rows, gather_rows_backward, log_softmax_rows, nll_rows, nll_rows_backward,",
            "    take_rows, zeros)", "", "",
            f"@njit({flags})", f"def {name}({', '.join(params)}):"]
    return "\n".join(head + gen.lines) + "\n"


def _result(graph, name: str, n) -> str:
    """A returned value: a 0-d value goes back as a 0-d array of its dtype."""
    if tuple(graph[n]["shape"]) != ():
        return name
    return f"array0({name}, {_np_name(graph[n]['dtype'])})"


def _np_name(dtype) -> str:
    name = np.dtype(dtype).name
    return "np.bool_" if name == "bool" else f"np.{name}"


def compile_plan(request: PlanRequest) -> Callable:
    """The plan's Numba function, loaded from (or written to) the disk cache, wrapped
    so a typing failure at the first call declines the plan (see the module docstring).
    A plan whose GEMMs are all small runs with BLAS pinned to one thread (numpy_blas.py:
    a second OpenBLAS thread makes small GEMMs up to 50x slower on a busy machine)."""
    name = "plan"
    text = plan_source(request, name)
    fn = getattr(numba_codegen.load_text(text, "gg_plan"), name)
    small = _small_gemms(request.graph)
    errors = _numba_errors()
    pin = []  # (get, set) once known: SciPy's OpenBLAS loads when Numba first types np.dot
    ready = []  # the first call succeeded

    def run(*args):
        if pin:
            get, put = pin
            threads = get()
            put(1)
            try:
                return fn(*args)
            finally:
                put(threads)
        if ready:
            return fn(*args)
        return first(*args)

    def first(*args):
        try:
            out = fn(*args)
        except errors as exc:
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            raise PlanUnsupported(f"Numba could not compile the plan: {lines[0]}") from exc
        pin.extend(numpy_blas.scipy_switch() if small else ())
        ready.append(True)
        return out

    run.source = text
    return run


def _small_gemms(graph) -> bool:
    """Whether every matmul of the plan is below numpy_blas.SMALL_GEMM multiply-adds."""
    for n in graph.nx:
        if graph[n]["op"] == "matmul":
            a, b = (graph[x]["shape"] for x in graph.args(n))
            if int(np.prod(a, dtype=np.int64)) * (b[-1] if len(b) == 2 else 1) \
                    >= numpy_blas.SMALL_GEMM:
                return False
    return True


def _numba_errors() -> tuple:
    # Numba is optional: imported only once a plan is compiled (it is installed then)
    from numba.core.errors import LoweringError, TypingError, UnsupportedError

    return (TypingError, LoweringError, UnsupportedError)
