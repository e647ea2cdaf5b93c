"""Collective ops: `all_reduce` and `broadcast` across the ranks of a process group.

They are ops like any other, so a compiled data-parallel step is one plan: forward,
backward, the gradients' all-reduce and the update. Their `group` attribute is the
process group (gg.distributed); each backend's kernel moves its own arrays (NumPy: host
buffers through MPI; CuPy: device buffers through NCCL). Every rank traces the same
program, so every rank's plan issues the same collectives in the same order.

    all_reduce(x, op, group)   the elementwise sum (or average, max, min) of x over ranks
    broadcast(x, src, group)   rank src's x on every rank
"""

from __future__ import annotations

from ..tensor import Tensor
from .common import Sample, rand_array
from .registry import Op, saves_none


class LocalGroup:
    """A group of one process: collectives return their input. The op samples (and so the
    conformance suite) use it, so every backend's collective kernels run without MPI."""

    rank, size = 0, 1

    def all_reduce_host(self, buf, op: str):
        return buf

    def start_all_reduce_host(self, buf, op: str):
        return lambda: buf

    def broadcast_host(self, buf, src: int):
        return buf

    def barrier(self) -> None:
        pass

    def __repr__(self) -> str:
        return "local[1]"


LOCAL = LocalGroup()


def _samples(key, value):
    return lambda: [Sample((rand_array(shape),), {key: value, "group": LOCAL})
                    for shape in ((3, 4), (), (0, 2), (5,))]

all_reduce_op = Op("all_reduce")
all_reduce_op.infer = lambda x, op, group: (x.shape, x.dtype)
all_reduce_op.document(
    "the elementwise reduction of x over the ranks of group (every rank gets the result)",
    result="x's shape and dtype",
    op="str: 'sum', 'avg', 'max' or 'min'",
    group="a graphgrad.distributed process group (.rank, .size): for host arrays, "
          "group.all_reduce_host(C-contiguous NumPy array, op) and "
          "group.broadcast_host(array, src) do the work (MPI); device backends use their "
          "own communicator (CuPy: NCCL)")


def _all_reduce_vjp(g, out, x, op, group):
    # d(sum_r x_r)/d(x_mine) = 1 on every rank: each rank's cotangent is the sum of all
    # ranks' cotangents (the average for "avg"); max/min have no simple rule here.
    if op not in ("sum", "avg"):
        return (None,)
    return (all_reduce_op(g, op=op, group=group),)


all_reduce_op.vjp = _all_reduce_vjp
all_reduce_op.saves = saves_none
all_reduce_op.jvp = lambda t, out, x, op, group: all_reduce_op(t[0], op=op, group=group)
all_reduce_op.samples = _samples("op", "sum")

broadcast_op = Op("broadcast")
broadcast_op.infer = lambda x, src, group: (x.shape, x.dtype)
broadcast_op.document("rank src's x, on every rank of group", result="x's shape and dtype",
                      src="int: the rank whose x is sent", group=all_reduce_op.attr_docs["group"])


def _broadcast_vjp(g, out, x, src, group):
    # every rank's output is src's input: src's cotangent is the sum of all of them
    total = all_reduce_op(g, op="sum", group=group)
    return (total if group.rank == src else total * 0,)


broadcast_op.vjp = _broadcast_vjp
broadcast_op.saves = saves_none
broadcast_op.jvp = lambda t, out, x, src, group: broadcast_op(t[0], src=src, group=group)
broadcast_op.samples = _samples("src", 0)


def all_reduce(x: Tensor, op: str, group) -> Tensor:
    return all_reduce_op(x, op=op, group=group)


def broadcast(x: Tensor, src: int, group) -> Tensor:
    return broadcast_op(x, src=src, group=group)
