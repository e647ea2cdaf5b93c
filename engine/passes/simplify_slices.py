"""Simplification rules for the gradients of slices (used by passes/simplify.py).

The backward of `chunk`/`split` (a transformer's q, k, v taken from one projection) is
a sum of `index_backward`s, each a zero-filled array of the whole shape with one slice
written: three zero fills, three writes and two full-size adds, where one `concat` of
the pieces does. The rules, each exact:

- `index_backward(a, s1) + index_backward(b, s2)` with s1 and s2 adjacent ranges along
  one axis (full slices elsewhere) -> `index_backward(concat(a, b), s1 ∪ s2)`;
- `index_backward(x, s)` with s covering the whole shape -> x;
- `concat(..., concat(p, q), ...)` along one axis, the inner one used only there ->
  one `concat(..., p, q, ...)`.
"""

from __future__ import annotations

FULL = ("slice", None, None, None)


def _ranges(spec, shape) -> list[tuple[int, int]] | None:
    """(start, stop) per dim for a spec of unit-step slices only (None elsewhere)."""
    if len(spec) > len(shape):
        return None
    out = []
    for part, size in zip(tuple(spec) + (FULL,) * (len(shape) - len(spec)), shape):
        if part[0] != "slice" or part[3] not in (None, 1):
            return None
        start = 0 if part[1] is None else part[1]
        stop = size if part[2] is None else part[2]
        if not 0 <= start <= stop <= size:
            return None
        out.append((start, stop))
    return out


def _spec(ranges, shape) -> tuple:
    return tuple(FULL if (a, b) == (0, n) else ("slice", a, b, None)
                 for (a, b), n in zip(ranges, shape))


def _plain_slice_grad(graph, n):
    """(its argument, ranges) when n is an index_backward of unit-step slices; else None."""
    d = graph[n]
    args = graph.args(n)
    if d["op"] != "index_backward" or len(args) != 1:
        return None
    ranges = _ranges(d["attrs"]["spec"], d["attrs"]["shape"])
    return None if ranges is None else (args[0], ranges)


def merge_adjacent_slice_grads(graph, n, replace) -> bool:
    """add(index_backward(a, s1), index_backward(b, s2)) -> index_backward(concat(a, b))
    where s1, s2 are adjacent along one axis and equal elsewhere, each used only here."""
    args = graph.args(n)
    if len(args) != 2 or args[0] == args[1]:
        return False
    parts = [_plain_slice_grad(graph, a) for a in args]
    if None in parts or graph[args[0]]["attrs"]["shape"] != graph[args[1]]["attrs"]["shape"] \
            or any(graph.users(a) != [n] or graph.is_live_root(a) for a in args):
        return False
    (a, ra), (b, rb) = parts
    differ = [i for i, (x, y) in enumerate(zip(ra, rb)) if x != y]
    if len(differ) != 1:
        return False
    axis = differ[0]
    if ra[axis][1] == rb[axis][0]:
        lo, hi, first, last = a, b, ra, rb
    elif rb[axis][1] == ra[axis][0]:
        lo, hi, first, last = b, a, rb, ra
    else:
        return False
    shape = tuple(graph[args[0]]["attrs"]["shape"])
    merged = list(first)
    merged[axis] = (first[axis][0], last[axis][1])
    piece_shape = list(graph[lo]["shape"])
    piece_shape[axis] += graph[hi]["shape"][axis]
    cat = graph.add_like(n, "concat", [lo, hi], {"axis": axis}, shape=tuple(piece_shape))
    grad = graph.add_like(n, "index_backward", [cat], {"spec": _spec(merged, shape),
                                                       "shape": shape}, shape=shape)
    replace(graph, n, grad)
    for old in args:  # (used only by the add: dead now)
        graph.remove_node(old)
    return True


def drop_whole_slice_grad(graph, n, replace) -> bool:
    """index_backward(x, s) where s covers the whole shape (x has that shape) -> x."""
    found = _plain_slice_grad(graph, n)
    if found is None:
        return False
    x, ranges = found
    shape = tuple(graph[n]["attrs"]["shape"])
    if ranges != [(0, s) for s in shape] or tuple(graph[x]["shape"]) != shape:
        return False
    replace(graph, n, x)
    return True


def flatten_concat(graph, n) -> bool:
    """concat(..., concat(p, q), ...) on one axis, the inner used only there -> one concat."""
    axis, args = graph[n]["attrs"]["axis"], graph.args(n)
    for i, a in enumerate(args):
        d = graph[a]
        if d["op"] == "concat" and d["attrs"]["axis"] == axis and graph.users(a) == [n] \
                and not graph.is_live_root(a):
            graph.set_args(n, args[:i] + graph.args(a) + args[i + 1:])
            return True
    return False
