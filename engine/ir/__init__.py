"""The IR: `Graph` over networkx, tracing into it, printing, verifying, interpreting."""

from .graph import Graph

__all__ = ["Graph"]
