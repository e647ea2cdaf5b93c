"""Flattening nested results (tuples, lists, dicts of tensors) and rebuilding them."""

from __future__ import annotations


def flatten(obj, is_leaf):
    """(leaves, rebuild) where rebuild(new_leaves) gives obj's structure back.

    The walkers are module functions, not nested closures: a closure that calls itself
    is a reference cycle, which would keep every leaf alive until the cyclic GC runs."""
    leaves: list = []
    tree = _walk(obj, is_leaf, leaves)
    if tree == ("leaf",):
        return leaves, first
    return leaves, lambda values: _build(tree, iter(values))


def first(values):
    """The rebuild of a lone leaf (callers recognise it to skip rebuilding)."""
    return values[0]


def _walk(x, is_leaf, leaves: list):
    if is_leaf(x):
        leaves.append(x)
        return ("leaf",)
    if isinstance(x, (tuple, list)):
        return (type(x), [_walk(v, is_leaf, leaves) for v in x])
    if isinstance(x, dict):
        return (dict, [(k, _walk(v, is_leaf, leaves)) for k, v in x.items()])
    return ("const", x)


def _build(node, it):
    kind = node[0]
    if kind == "leaf":
        return next(it)
    if kind == "const":
        return node[1]
    if kind is dict:
        return {k: _build(v, it) for k, v in node[1]}
    items = [_build(v, it) for v in node[1]]
    return kind(*items) if hasattr(kind, "_fields") else kind(items)
