"""Weight layout (in place): keep a matrix column-major when BLAS only sees it transposed.

nn.Linear stores W as (out, in) and computes x @ W.T. OpenBLAS runs that "NT" product up
to 1.8x slower than the plain "NN" product at the sizes of small MLPs. When every
matmul reading a 2-D parameter takes it transposed on the right (a first layer: no
input gradient needs W itself), holding its array in Fortran order makes W.T an
ordinary row-major matrix. Its gradient g.T @ x is rewritten as (x.T @ g).T, which
costs the same and comes out in the same order, so the elementwise update streams
both with unit stride. The state read converts once; the in-place update keeps it.

Runs only on backends that set `Backend.column_major` (NumPy's), before `foreach`,
which then lays such a parameter (and its optimizer state) out transposed in its flat
buffer.
"""

from __future__ import annotations

_T = (1, 0)


def _is_transpose(graph, n) -> bool:
    return graph[n]["op"] == "permute" and tuple(graph[n]["attrs"]["axes"]) == _T


def _only_transposed_right_operand(graph, n) -> bool:
    """Every use of n is elementwise (fused) or a transpose feeding matmuls as `b`, and
    there is at least one of the latter."""
    seen = False
    for u in graph.users(n):
        if graph[u]["op"] == "fused":
            continue
        if not _is_transpose(graph, u):
            return False
        for m in graph.users(u):
            args = graph.args(m)
            if graph[m]["op"] != "matmul" or len(args) != 2 or args[1] != u or args[0] == u:
                return False
        seen = True
    return seen


def _candidates(graph) -> list[int]:
    out = []
    for name, n in graph.state_reads.items():
        d = graph[n]
        if (len(d["shape"]) == 2 and d["dtype"].kind == "f"
                and graph.state_refs[name].kind == "tensor"
                and _only_transposed_right_operand(graph, n)):
            out.append(n)
    return out


def _transpose(graph, a, like) -> int:
    d = graph[a]
    return graph.add_like(like, "permute", [a], {"axes": _T}, shape=d["shape"][::-1],
                          dtype=d["dtype"])


def _rewrite_gradient(graph, m) -> None:
    """matmul(a.T, b) -> (b.T @ a).T: the same product, produced column-major."""
    at, b = graph.args(m)
    a = graph.args(at)[0]
    d = graph[m]
    inner = graph.add_like(m, "matmul", [_transpose(graph, b, m), a], {},
                           shape=d["shape"][::-1])
    graph.replace_uses(m, _transpose(graph, inner, m))
    graph.remove_node(m)
    if not graph.users(at):
        graph.remove_node(at)


def column_major_weights(graph, ctx=None):
    if getattr(getattr(ctx, "backend", None), "column_major", None) is None:
        return graph
    for n in _candidates(graph):
        graph[n]["attrs"] = {**graph[n]["attrs"], "layout": "F"}
        updates = [u for u in graph.users(n) if graph[u]["op"] == "fused"]
        for u in updates:  # its gradient: a matmul(g.T, x) of W's shape read by the update
            for m in graph.args(u):
                if (graph[m]["op"] == "matmul" and graph[m]["shape"] == graph[n]["shape"]
                        and _is_transpose(graph, graph.args(m)[0])):
                    _rewrite_gradient(graph, m)
    return graph
