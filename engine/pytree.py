"""Flattening nested results (tuples, lists, dicts of tensors) and rebuilding them."""

from __future__ import annotations


def flatten(obj, is_leaf):
    """(leaves, rebuild) where rebuild(new_leaves) gives obj's structure back."""
    leaves: list = []

    def walk(x):
        if is_leaf(x):
            leaves.append(x)
            return ("leaf",)
        if isinstance(x, (tuple, list)):
            return (type(x), [walk(v) for v in x])
        if isinstance(x, dict):
            return (dict, [(k, walk(v)) for k, v in x.items()])
        return ("const", x)

    tree = walk(obj)
    if tree == ("leaf",):
        return leaves, lambda values: values[0]

    def rebuild(values):
        it = iter(values)

        def build(node):
            kind = node[0]
            if kind == "leaf":
                return next(it)
            if kind == "const":
                return node[1]
            if kind is dict:
                return {k: build(v) for k, v in node[1]}
            items = [build(v) for v in node[1]]
            return kind(*items) if hasattr(kind, "_fields") else kind(items)

        return build(tree)

    return leaves, rebuild
