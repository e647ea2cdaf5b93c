"""An eager tensor's recorded history (`Tensor._ctx`) as a Graph, like torchviz's make_dot.

Each tensor on the way back from the roots becomes one node: results of ops keep
their op and attrs; leaves that require grad are drawn as parameters (`state`),
named from `params` when given (e.g. `dict(model.named_parameters())`); other leaves
are inputs, or constants when they are 0-d. The walk is iterative, so histories of
any depth convert.
"""

from __future__ import annotations

from graphgrad.autodiff import _topological, node_key
from graphgrad.ir.graph import Graph
from graphgrad.tensor import Tensor


def _postorder(roots: list[Tensor]) -> list[Tensor]:
    """Tensors reachable through `_ctx`, each after all of its inputs."""
    return _topological(roots, follow=lambda x: True)


def graph_of_tensors(roots, params: dict | None = None) -> Graph:
    """The Graph of how `roots` (a Tensor or a list of them) were computed."""
    roots = [roots] if isinstance(roots, Tensor) else list(roots)
    names = {id(t): name for name, t in (params or {}).items()}
    graph = Graph()
    node_of: dict[int, int] = {}
    for t in _postorder(roots):
        name = names.get(id(t))
        if t._ctx is not None:
            ctx = t._ctx
            n = graph.add_node(ctx.op.name, [node_of[node_key(x)] for x in ctx.inputs],
                               dict(ctx.attrs), shape=t.shape, dtype=t.dtype, name=name)
        elif t.requires_grad:
            n = graph.add_node("state", shape=t.shape, dtype=t.dtype, name=name)
            graph.state_reads[name or f"leaf{len(graph.state_reads)}"] = n
        elif not t.shape and t._value is not None:
            n = graph.add_node("const", attrs={"value": t.numpy()}, shape=(), dtype=t.dtype)
        else:
            n = graph.add_node("input", attrs={"index": len(graph.inputs)}, shape=t.shape,
                               dtype=t.dtype, name=name)
            graph.inputs.append(n)
        node_of[node_key(t)] = n
    graph.outputs = [node_of[node_key(r)] for r in roots]
    return graph
