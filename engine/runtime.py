"""Lowering: an optimized Graph becomes straight-line Python over a backend's kernels.

In the manner of torch.fx's code generation, each scheduled node becomes one line that
calls a kernel bound up front (no networkx, no dictionary lookups per node at run
time), values are dropped after their last use, every line carries the user's
`file:line`, and the source is registered with `linecache` so tracebacks through a
plan show real lines. `Executable.source` is that code.
"""

from __future__ import annotations

import itertools
import keyword
import linecache
import re

import numpy as np

from .backends.base import Expression, Inline
from .errors import BackendError
from .ir.graph import SOURCE_OPS
from .ops.registry import REGISTRY
from .passes.memory import kept_to_the_end, last_uses
from .views import refresh_views

_counter = itertools.count()


def _ident(text: str, prefix: str) -> str:
    name = re.sub(r"\W", "_", text or "")
    if not name or name[0].isdigit() or keyword.iskeyword(name):
        name = f"{prefix}_{name}" if name else prefix
    return name


def _is_literal(v) -> bool:
    if v is None or isinstance(v, (bool, int, str)):
        return True
    if isinstance(v, float):
        return np.isfinite(v)
    if isinstance(v, tuple):
        return all(_is_literal(x) for x in v)
    return False


class _Writer:
    """Collects the plan's lines and the objects its code refers to."""

    def __init__(self, backend, local_names=()):
        self.backend = backend
        self.namespace: dict = {}
        self.reserved = set(local_names)  # the plan's parameters: no global may shadow them
        self.dtype = self.bind("dtype", np.dtype)
        self.lines: list[str] = []
        self.line_nodes: dict[int, int] = {}  # source line number -> graph node
        self.names: dict[int, str] = {}
        self.check = None  # anomaly mode: called after each kernel (see `Executable`)
        self.started: set[int] = set()  # all-reduces started here, waited for later

    def bind(self, name: str, obj) -> str:
        base, i = name, 1
        while (name in self.namespace and self.namespace[name] is not obj) \
                or name in self.reserved or _TEMP.fullmatch(name):
            name, i = f"{base}_{i}", i + 1
        self.namespace[name] = obj
        return name

    def free_name(self, name: str) -> str:
        """A name neither bound nor reserved (for the plan's own `def`)."""
        base, i = name, 1
        while name in self.namespace or name in self.reserved:
            name, i = f"{base}_{i}", i + 1
        return name

    def literal(self, value, hint: str) -> str:
        if isinstance(value, np.dtype):
            return f"{self.dtype}({value.name!r})"
        return repr(value) if _is_literal(value) else self.bind(hint, value)


    def emit(self, line: str, node: int | None = None, comment: str | None = None):
        text = f"    {line}"
        if comment:
            text = f"{text:<56}  # {comment}"
        self.lines.append(text)
        if node is not None:
            self.line_nodes[len(self.lines) + 1] = node  # +1: the `def` line comes first


_TEMP = re.compile(r"v\d+|vc\d+|h\d+")  # the plan's temporaries (locals)


def _param_names(graph) -> list[str]:
    """Readable, unique parameter names that cannot be a temporary's name."""
    names: list[str] = []
    for n in graph.inputs:
        name = _ident(graph[n]["name"], "x")
        base, i = name, 1
        while name in names or _TEMP.fullmatch(name):
            name, i = f"{base}_{i}", i + 1
        names.append(name)
    return names


def _kernel(writer, op, source=None):
    try:
        fn = writer.backend.kernels[op]
    except KeyError:
        raise BackendError.no_kernel(writer.backend, op, source) from None
    return writer.bind(op if op.isidentifier() and not keyword.iskeyword(op) else f"k_{op}",
                       fn)


def _state_read(writer, graph, n) -> str:
    data = graph[n]
    ref = graph.state_refs[data["name"]]
    var = writer.names[n]
    if ref.kind == "tensor":
        obj = writer.bind(_ident(f"T_{data['name']}", "T"), ref.tensor)
        if data["attrs"].get("layout") == "F":  # passes/layout.py: converts on first use
            return f"{var} = {writer.bind('column_major', writer.backend.column_major)}" \
                   f"({obj}._value)"
        return f"{var} = {obj}._value"
    if ref.kind == "flat":
        obj = writer.bind(_ident(f"R_{data['name']}", "R"), ref)
        return f"{var} = {obj}.read()"
    if ref.kind == "grad":
        obj = writer.bind(_ident(f"G_{data['name']}", "G"), ref.owner)
        return f"{var} = {obj}._grad._value"
    obj = writer.bind(_ident(f"C_{data['name']}", "C"), ref.container)
    if getattr(ref, "fn", None) is not None:
        fn = writer.bind(_ident("F_" + data["name"], "F"), ref.fn)
        return f"{var} = {fn}({obj})"
    index = "" if getattr(ref, "index", None) is None else f"[{ref.index!r}]"
    return f"{var} = {obj}[{ref.key!r}]{index}"


def _state_write(writer, graph, name, n) -> str:
    ref = graph.state_refs[name]
    value = "None" if n is None else writer.names[n]
    if ref.kind == "tensor":
        return f"{writer.bind(_ident(f'T_{name}', 'T'), ref.tensor)}._value = {value}"
    return f"{writer.bind(_ident(f'R_{name}', 'R'), ref)}.write({value})"


def _call(writer, graph, n) -> str:
    data = graph[n]
    op, attrs = data["op"], data["attrs"]
    args = [writer.names[a] for a in graph.args(n)]
    if op == "fused":
        fn = writer.bind(f"fused_{n}", _compile_fused(writer.backend, attrs["program"]))
        reuse = (data.get("reuse") or ()) if writer.check is None else ()  # checks read inputs
        if any(r is not None for r in reuse):
            outs = ", ".join("None" if r is None else args[r] for r in reuse)
            args.append(f"out=({outs},)")
        return f"{fn}({', '.join(args)})"
    special = writer.backend.specialize(
        op, [(graph[a]["shape"], graph[a]["dtype"]) for a in graph.args(n)], attrs) \
        if op in writer.backend.kernels else None  # a refinement of a kernel it has
    if isinstance(special, Expression):  # a view or method call, written out
        return special.text.format(*args)
    if isinstance(special, Inline) and all(_is_literal(v) for v in special.tail):
        tail = [repr(v) for v in special.tail]  # written out: no closure per call
        return f"{writer.bind(f'{op}_{n}', special.fn)}({', '.join(args + tail)})"
    if special is not None:  # a kernel for exactly these types: no run-time dispatch
        return f"{writer.bind(f'{op}_{n}', special)}({', '.join(args)})"
    fn = _kernel(writer, op, data["source"])
    kw = [f"{k}={writer.literal(v, f'{k}_{n}')}" for k, v in attrs.items()]
    return f"{fn}({', '.join(args + kw)})"


def _compile_fused(backend, program):
    try:
        return backend.compile_fused(program)
    except KeyError as e:
        op = e.args[0] if e.args else "?"
        raise BackendError(
            f"backend {backend.name!r} has no kernel for op {op!r}, needed by the fused "
            f"group [{','.join(program.op_names)}]", op=op,
            source=", ".join(program.sources) or None) from None


def _emit_checks(writer, graph, n, targets: str) -> None:
    """Anomaly mode: after node n's line, check each float result (inputs still alive)."""
    args = "".join(f", {writer.names[a]}" for a in graph.args(n))
    fn = writer.bind("check_finite", writer.check)
    names = [v.strip() for v in targets.split(",") if v.strip() not in ("", "_")]
    if len(names) == 1 and graph[n]["dtype"].kind != "f":
        return  # (the check itself skips non-float results of multi-output nodes)
    for var in names:
        writer.emit(f"{fn}({n}, {var}{args})", n)


def _comment(graph, n) -> str:
    data = graph[n]
    if data["op"] == "fused":
        program = data["attrs"]["program"]
        return f"fused[{','.join(program.op_names)}] {', '.join(program.sources)}"
    return data["source"] or ""


def _frees(data) -> bool:
    """Whether dropping this node's variable can free memory: not for the arguments,
    constants and state the caller or the plan still holds (a column-major state read
    may be a fresh copy, though), nor for a tuple-valued node's (it has none)."""
    if data["op"] in ("input", "const"):
        return False
    if data["op"] == "state":
        return data["attrs"].get("layout") == "F"
    return True


def generate(graph, backend, fn_name: str = "plan", check=None) -> _Writer:
    """The plan's source, namespace and line map for `graph` on `backend`."""
    params = _param_names(graph)
    writer = _Writer(backend, params)
    writer.check = check
    order = getattr(graph, "schedule", None) or graph.topo_order()
    order = [n for n in order if n in graph]
    last = last_uses(graph, order)
    _name_values(writer, graph, order, params)
    gets: dict[int, list[int]] = {}
    for n in order:
        if graph[n]["op"] == "get":
            gets.setdefault(graph.args(n)[0], []).append(n)
    pos = {n: i for i, n in enumerate(order)}
    dying: dict[int, list[str]] = {}
    kept = kept_to_the_end(graph, order)
    for n in order:
        if last[n] < len(order) and n not in gets and _frees(graph[n]) and n not in kept:
            dying.setdefault(max(last[n], pos[n]), []).append(writer.names[n])
    waits = _split_collectives(writer, graph, order, last)
    for i, n in enumerate(order):
        for m in waits.pop(i, ()):
            _emit_wait(writer, m)
        data = graph[n]
        op = data["op"]
        if n in writer.started:
            writer.emit(f"h{n} = {_start_call(writer, graph, n)}", n, _comment(graph, n))
        elif op == "state":
            writer.emit(_state_read(writer, graph, n), n, data["name"])
        elif op not in SOURCE_OPS and op != "get":
            targets = writer.names[n]
            if n in gets:
                by_index = {graph[g]["attrs"]["index"]: writer.names[g] for g in gets[n]}
                count = len(data["attrs"]["program"].outputs)
                targets = ", ".join(by_index.get(k, "_") for k in range(count))
                targets += "," if count == 1 else ""
            writer.emit(f"{targets} = {_call(writer, graph, n)}", n, _comment(graph, n))
            if check is not None:
                _emit_checks(writer, graph, n, targets)
        if dying.get(i):
            writer.emit(f"del {', '.join(dying[i])}")
    for m in waits.pop(len(order), ()):
        _emit_wait(writer, m)
    _emit_state_writes(writer, graph)
    results = [*graph.outputs, *(graph.input_grads[i] for i in sorted(graph.input_grads)
                                 if graph.input_grads[i] is not None)]
    outs = ", ".join(_returned(writer, graph, o, k) for k, o in enumerate(results))
    writer.emit(f"return ({outs}{',' if len(results) == 1 else ''})")
    writer.fn_name = writer.free_name(fn_name)
    writer.header = f"def {writer.fn_name}({', '.join(params)}):"
    return writer


def _emit_state_writes(writer, graph) -> None:
    """The plan's results written back into the state they update: parameters (and the
    views of them the user keeps), `.grad` slots, optimizer buffers."""
    for name, n in graph.state_writes.items():
        ref = graph.state_refs[name]
        if ref.kind == "grad" and n is not None and not ref.fresh:  # `.grad` is set already
            owner = writer.bind(_ident(f"G_{name}", "G"), ref.owner)
            writer.emit(f"if {owner}._grad is not None: {owner}._grad._value = "
                        f"{writer.names[n]}", None, f"state {name}")
            writer.emit(f"else: {_state_write(writer, graph, name, n)}")
            continue
        writer.emit(_state_write(writer, graph, name, n), None, f"state {name}")
        if ref.kind == "tensor":  # views of it (`p.data`, `p.T` kept by the user) see it too
            obj = writer.bind(_ident(f"T_{name}", "T"), ref.tensor)
            writer.emit(f"if {obj}._views: {writer.bind('refresh_views', refresh_views)}({obj})")


def _split_collectives(writer, graph, order, last) -> dict[int, list[int]]:
    """Where the backend can start an all-reduce and wait for it later
    (`Backend.all_reduce_start`), each `all_reduce` node becomes two lines: the start
    where the node is scheduled and the wait just before its result's first use, so the
    kernels scheduled in between (the rest of the backward pass: passes/schedule.py)
    run while the collective is under way. Returns {position: [nodes to wait for there]}.
    Anomaly mode keeps the plain call (its checks read each result where it is made)."""
    writer.started = set()
    start = getattr(writer.backend, "all_reduce_start", None)
    if start is None or writer.check is not None:
        return {}
    pos = {n: i for i, n in enumerate(order)}
    waits: dict[int, list[int]] = {}
    for n in order:
        if graph[n]["op"] != "all_reduce" or last[n] <= pos[n]:
            continue  # (a result nobody reads is not worth a deferred wait)
        first = min((pos[u] for u in graph.users(n)), default=len(order))
        waits.setdefault(first, []).append(n)
        writer.started.add(n)
    if writer.started:
        writer.start_name = writer.bind("all_reduce_start", start)
    return waits


def _start_call(writer, graph, n) -> str:
    args = [writer.names[a] for a in graph.args(n)]
    kw = [f"{k}={writer.literal(v, f'{k}_{n}')}" for k, v in graph[n]["attrs"].items()]
    return f"{writer.start_name}({', '.join(args + kw)})"


def _emit_wait(writer, n) -> None:
    writer.emit(f"{writer.names[n]} = h{n}()", n, "wait for the all_reduce started above")
    writer.emit(f"del h{n}")


def _name_values(writer, graph, order, params) -> None:
    """Each node's name in the plan: the parameters for inputs, a global bound to the
    array for constants, `v<node>` for the rest."""
    writer.names.update(zip(graph.inputs, params))
    for n in order:
        data = graph[n]
        if data["op"] == "const":  # used by its global name: no line, nothing to free
            value = writer.backend.from_numpy(np.asarray(data["attrs"]["value"]))
            writer.names[n] = writer.bind(f"c{n}", value)
        elif data["op"] != "input":
            writer.names[n] = f"v{n}"


def _holds_buffer(graph, n) -> bool:
    """Whether node n's value is (a view of) a buffer the plan keeps after the call: a
    state value (read or written) or a constant. Returning it as is would let a later
    call (or the user) change the other."""
    written = {w for w in graph.state_writes.values() if w is not None}
    while True:
        op = graph[n]["op"]
        if op in ("state", "const") or n in written:
            return True
        if op == "get" and graph[graph.args(n)[0]]["op"] == "fused":
            return False
        if not (op == "get" or op in REGISTRY and REGISTRY[op].view) or not graph.args(n):
            return False
        n = graph.args(n)[0]


def _returned(writer, graph, n, k) -> str:
    """The name returned for result n: a copy where the plan still holds its buffer."""
    if not _holds_buffer(graph, n):
        return writer.names[n]
    copy = writer.bind("copy", writer.backend.kernels["identity"])
    writer.emit(f"vc{k} = {copy}({writer.names[n]})", None, "a result the user owns")
    return f"vc{k}"


class Executable:
    """A lowered plan: `run(*arrays) -> tuple of arrays`, writing state back as it goes.

    `check` (anomaly mode only) is called as `check(node, value, *input_values)` after
    every kernel line with a float result; plans built without it carry no checks.
    """

    def __init__(self, graph, backend, name: str = "plan", check=None):
        self.graph = graph
        self.backend = backend
        writer = generate(graph, backend, _ident(name, "plan"), check)
        self.source = "\n".join([writer.header, *writer.lines]) + "\n"
        self.filename = f"<graphgrad plan {name} #{next(_counter)}>"
        linecache.cache[self.filename] = (len(self.source), None,
                                          self.source.splitlines(True), self.filename)
        namespace = writer.namespace
        exec(compile(self.source, self.filename, "exec"), namespace)  # noqa: S102
        self.run = namespace[writer.fn_name]
        wrap = getattr(backend, "wrap_plan", None)
        if wrap is not None and check is None:  # e.g. one BLAS setting per call
            self.run = wrap(self.run, graph, namespace) or self.run
        self.line_nodes = writer.line_nodes
        self.backend_info = "per-kernel plan"  # engine/native_plan.py may replace `run`
        self.kernel_calls = sum(1 for n in graph.nx if graph[n]["op"] not in
                                (*SOURCE_OPS, "get"))

    def node_for_traceback(self, tb):
        """The graph node whose line raised, found in a traceback through this plan."""
        node = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self.filename:
                node = self.line_nodes.get(tb.tb_lineno, node)
            tb = tb.tb_next
        return node

    def __del__(self):
        linecache.cache.pop(getattr(self, "filename", None), None)
