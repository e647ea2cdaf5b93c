"""The IR's vocabulary that every part of it shares: which ops are a graph's sources.

A node whose op is one of `SOURCE_OPS` takes no arguments: it is an input of the
traced function, a piece of state read at each call, or a constant. `graph.py`,
`verify.py` and the passes read this; it imports nothing.
"""

SOURCE_OPS = ("input", "state", "const")
