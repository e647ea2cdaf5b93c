"""Algebraic simplification (in place): rewrites that remove work without changing results.

- `x * 1`, `x / 1`, `x + 0`, `x - 0` -> x (a broadcast when the constant widened x);
- `x * 0` -> 0 only when x is itself a finite constant (NaN * 0 is NaN);
- `neg(neg(x))` -> x; `permute(permute(x))` -> one permute (or x);
- `(a @ b).T` -> `b.T @ a.T` (2-D; the transposes then cancel where they can);
- `reshape(reshape(x))` -> one reshape; reshape/broadcast_to to x's own shape -> x;
- `sum(broadcast_to(x))` over broadcast axes only -> x * count (the backward seed's
  broadcasts and the gradients of biases fold away this way);
- `sum(gather_backward(g, idx))` along the gather axis, one index per row -> g (each
  row holds g's one value and zeros: a cross-entropy's backward);
- `G - exp(L) * sum(G, 1)` with G = nll_loss_backward(g, t) (log_softmax's VJP of an
  nll_loss gradient: a cross-entropy's backward) -> one cross_entropy_backward(g, L, t);
- an elementwise op reading `broadcast_to(x)` reads x (it broadcasts by itself); when
  no operand keeps the full shape, the broadcast moves after the op instead;
- the gradients of adjacent slices summed become one concat (simplify_slices.py);
- a recurrent backward op (`gru_seq_backward`, `lstm_seq_backward`) whose cotangent is
  `index_backward(g, [0])` (a model reads only the hidden states) takes g itself: no
  mostly-zero cotangent of the whole packed output is built and scanned.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import SOURCE_OPS
from ..ops.common import broadcast_shapes
from ..ops.registry import REGISTRY
from .simplify_slices import drop_whole_slice_grad, flatten_concat, merge_adjacent_slice_grads


def scalar_value(graph, n):
    """The single value every element of node n has, if n is a known constant; else None."""
    data = graph[n]
    while data["op"] in ("broadcast_to", "reshape"):
        n = graph.args(n)[0]
        data = graph[n]
    if data["op"] != "const":
        return None
    value = np.asarray(data["attrs"]["value"])
    if value.ndim == 0:
        first = value.item()
        return first if first == first else None  # (NaN: never "every element equal")
    if value.size == 0:
        return None
    first = value.flat[0]
    return first.item() if np.all(value == first) else None


def _replace(graph, n, new):
    graph.replace_uses(n, new)
    graph.remove_node(n)


def _widen(graph, n, x):
    """x, broadcast to n's shape if needed (so a rewrite keeps n's shape)."""
    data = graph[n]
    if graph[x]["shape"] == data["shape"]:
        return x
    return graph.add_like(n, "broadcast_to", [x], {"shape": data["shape"]}, shape=data["shape"])


def _identity_operand(graph, n, op, args):
    if op == "mul" or op == "div":
        for i, a in enumerate(args):
            other = args[1 - i]
            if scalar_value(graph, a) == 1 and (op == "mul" or i == 1) \
                    and graph[other]["dtype"] == graph[n]["dtype"]:
                return other
    if op in ("add", "sub"):
        for i, a in enumerate(args):
            if scalar_value(graph, a) == 0 and (op == "add" or i == 1) \
                    and graph[args[1 - i]]["dtype"] == graph[n]["dtype"]:
                return args[1 - i]
    return None


def _rewrite(graph, n) -> bool:
    data = graph[n]
    op, args = data["op"], graph.args(n)
    if op in SOURCE_OPS:
        return False
    keep = _identity_operand(graph, n, op, args)
    if keep is not None:
        _replace(graph, n, _widen(graph, n, keep))
        return True
    if op == "mul" and all(scalar_value(graph, a) is not None for a in args) and \
            any(scalar_value(graph, a) == 0 for a in args):
        zero = graph.add_like(n, "const", [], {"value": np.zeros((), data["dtype"])}, shape=())
        _replace(graph, n, _widen(graph, n, zero))
        return True
    if op in ("reshape", "broadcast_to") and graph[args[0]]["shape"] == data["shape"]:
        _replace(graph, n, args[0])
        return True
    inner = graph[args[0]] if args else None
    if op == "neg" and inner["op"] == "neg":
        _replace(graph, n, graph.args(args[0])[0])
        return True
    if op == "reshape" and inner["op"] == "reshape":
        graph.set_args(n, graph.args(args[0]))
        return True
    if op == "permute" and inner["op"] == "permute":
        axes = tuple(inner["attrs"]["axes"][a] for a in data["attrs"]["axes"])
        source = graph.args(args[0])[0]
        if axes == tuple(range(len(axes))):
            _replace(graph, n, source)
        else:
            data["attrs"] = {"axes": axes}
            graph.set_args(n, [source])
        return True
    if op == "sum" and inner["op"] == "broadcast_to":
        return _sum_of_broadcast(graph, n, args[0])
    if op == "sum" and inner["op"] == "gather_backward":
        return _sum_of_scatter(graph, n, args[0])
    if op == "add" and inner["op"] == "index_backward" and \
            merge_adjacent_slice_grads(graph, n, _replace):
        return True
    if op == "index_backward" and drop_whole_slice_grad(graph, n, _replace):
        return True
    if op == "concat" and flatten_concat(graph, n):
        return True
    if op in _SEQ_BACKWARD and inner["op"] == "index_backward":
        return _hidden_cotangent_only(graph, n, args[0])
    if op == "permute" and inner["op"] == "matmul" and data["attrs"]["axes"] == (1, 0) \
            and len(graph.users(args[0])) == 1 and not graph.is_live_root(args[0]):
        return _transpose_product(graph, n, args[0])
    if op == "sub" and inner["op"] == "nll_loss_backward" and _cross_entropy_grad(graph, n):
        return True
    return _absorb_broadcast(graph, n, op, args)


def _cross_entropy_grad(graph, n) -> bool:
    """sub(G, mul(exp(L), sum(G, axis=1, keepdims))) with G = nll_loss_backward(g, t[, w])
    -> cross_entropy_backward(g, L, t[, w]): one kernel for three, and G's dense
    (batch, classes) array of zeros is never made."""
    grad, product = graph.args(n)
    if graph[product]["op"] != "mul":
        return False
    for e, total in (graph.args(product), graph.args(product)[::-1]):
        attrs = graph[total]["attrs"]
        if graph[e]["op"] == "exp" and graph[total]["op"] == "sum" \
                and graph.args(total) == [grad] and attrs["axis"] == (1,) and attrs["keepdims"]:
            break
    else:
        return False
    logp = graph.args(e)[0]
    if graph[logp]["shape"] != graph[n]["shape"] or graph[logp]["dtype"] != graph[n]["dtype"]:
        return False
    g, target, *weight = graph.args(grad)
    attrs = {k: graph[grad]["attrs"][k] for k in ("ignore_index", "reduction")}
    _replace(graph, n, graph.add_like(n, "cross_entropy_backward", [g, logp, target, *weight],
                                      attrs, shape=graph[n]["shape"]))
    return True


def _absorb_broadcast(graph, n, op, args) -> bool:
    """An elementwise op broadcasts by itself: feed it broadcast_to's input directly."""
    if not (op in REGISTRY and REGISTRY[op].elementwise):
        return False
    shape = graph[n]["shape"]
    new_args = [graph.args(a)[0] if graph[a]["op"] == "broadcast_to"
                and graph[a]["shape"] == shape else a for a in args]
    if new_args == args:
        return False
    if any(graph[a]["shape"] == shape for a in new_args):
        graph.set_args(n, new_args)
        return True
    # No operand keeps the full shape: compute on the small operands, broadcast after
    # (the broadcast then sinks further, into a consumer that has the full shape).
    data = graph[n]
    small = broadcast_shapes(*(graph[a]["shape"] for a in new_args))
    inner = graph.add_like(n, data["op"], new_args, dict(data["attrs"]), shape=small)
    _replace(graph, n, graph.add_like(n, "broadcast_to", [inner], {"shape": shape}, shape=shape))
    return True


def _sum_of_broadcast(graph, n, b) -> bool:
    """sum(broadcast_to(x, S), axes) where every summed axis was broadcast: x * count."""
    data, x = graph[n], graph.args(b)[0]
    shape, xshape = graph[b]["shape"], graph[x]["shape"]
    axes = data["attrs"]["axis"]
    axes = tuple(range(len(shape))) if axes is None else axes
    padded = (1,) * (len(shape) - len(xshape)) + tuple(xshape)
    if any(padded[a] != 1 for a in axes):
        return False
    kept = tuple(1 if a in axes else s for a, s in enumerate(shape))
    count = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    def add(op, args, attrs, shape):
        return graph.add_like(n, op, args, attrs, shape=shape)

    y = add("reshape", [x], {"shape": padded}, padded)  # identity reshapes fold away later
    y = add("broadcast_to", [y], {"shape": kept}, kept)
    y = add("reshape", [y], {"shape": data["shape"]}, data["shape"])
    if count != 1:
        c = add("const", [], {"value": np.asarray(count, data["dtype"])}, ())
        y = add("mul", [y, c], {}, data["shape"])
    _replace(graph, n, y)
    return True


def _sum_of_scatter(graph, n, scatter) -> bool:
    g, idx = graph.args(scatter)
    axis = graph[scatter]["attrs"]["axis"]
    kept = list(graph[scatter]["shape"])
    kept[axis] = 1
    if graph[n]["attrs"]["axis"] != (axis,) or graph[idx]["shape"][axis] != 1 \
            or graph[g]["shape"] != tuple(kept) or graph[g]["dtype"] != graph[n]["dtype"]:
        return False
    data = graph[n]
    if graph[g]["shape"] != data["shape"]:  # keepdims=False
        g = graph.add_like(n, "reshape", [g], {"shape": data["shape"]}, shape=data["shape"])
    _replace(graph, n, g)
    return True


def _transpose_product(graph, n, mm) -> bool:
    """(a @ b).T -> b.T @ a.T for 2-D operands: a weight gradient then comes out in the
    weight's own layout, and the transposes usually cancel against permutes of a or b."""
    a, b = graph.args(mm)
    if len(graph[a]["shape"]) != 2 or len(graph[b]["shape"]) != 2:
        return False
    data = graph[n]
    ta = graph.add_like(n, "permute", [a], {"axes": (1, 0)}, shape=graph[a]["shape"][::-1])
    tb = graph.add_like(n, "permute", [b], {"axes": (1, 0)}, shape=graph[b]["shape"][::-1])
    graph[mm]["shape"] = data["shape"]
    graph.set_args(mm, [tb, ta])
    _replace(graph, n, mm)
    return True


# What `_rewrite` can act on, for `_may_rewrite`'s quick test.
_SEQ_BACKWARD = frozenset(("gru_seq_backward", "lstm_seq_backward"))
_BY_ARGUMENT_OP = frozenset(("neg", "reshape", "permute", "sum", "broadcast_to",
                             "index_backward", "concat")) | _SEQ_BACKWARD
_IDENTITIES = frozenset(("mul", "div", "add", "sub"))
_GRADIENT_PARTS = frozenset(("index_backward", "nll_loss_backward"))  # rules reading them
_SCALAR_CHAIN = frozenset(("const", "broadcast_to", "reshape"))  # what `scalar_value` walks


def _hidden_cotangent_only(graph, n, scatter) -> bool:
    """n's cotangent operand `index_backward(g, [0])` (zeros but for output[0], the
    hidden states) becomes g, which the backward ops accept (shape (T, B, H))."""
    d = graph[scatter]
    if d["attrs"]["spec"] != (("int", 0),) or len(graph.args(scatter)) != 1:
        return False
    graph.set_args(n, [graph.args(scatter)[0]] + graph.args(n)[1:])
    return True


def _may_rewrite(nodes, pred, n, elementwise) -> bool:
    """False when `_rewrite` surely leaves n alone, from the ops of n and its arguments
    alone (most nodes of a big graph): an identity needs a constant argument (seen
    through broadcasts and reshapes), absorbing needs a broadcast argument, the rest
    are rewrites of particular ops. A test that costs a few dictionary lookups instead
    of a call of every rule."""
    op = nodes[n]["op"]
    if op in _BY_ARGUMENT_OP:
        return True
    if op in _IDENTITIES:  # (also: sums of slices' gradients, a cross-entropy's backward)
        return any(nodes[a]["op"] in _SCALAR_CHAIN or nodes[a]["op"] in _GRADIENT_PARTS
                   for a in pred[n])
    if op in elementwise:
        return any(nodes[a]["op"] == "broadcast_to" for a in pred[n])
    return False


def simplify(graph, ctx=None):
    """Rewrite until nothing changes. The first sweep visits every node in topological
    order; each later one only the nodes near a rewrite of the sweep before (the node,
    its arguments, its users, and their users: what a rewrite reads) and the nodes it
    made, so the pass costs a constant per node rather than per sweep."""
    elementwise = {name for name, op in REGISTRY.items() if op.elementwise}
    nodes, pred = graph.nx._node, graph.nx._pred
    todo = graph.any_topo_order()
    while todo:
        first_new = max(graph.nx, default=-1) + 1
        near: set[int] = set()
        for n in todo:
            if n not in nodes or not _may_rewrite(nodes, pred, n, elementwise):
                continue
            args, users = graph.args(n), graph.users(n)
            if _rewrite(graph, n):
                near.update(args, users, (n,))
        if not near:
            break
        near.update(m for m in graph.nx if m >= first_new)
        for m in [m for m in near if m in graph]:
            near.update(graph.users(m))
        todo = [n for n in graph.any_topo_order() if n in near]
    return graph
