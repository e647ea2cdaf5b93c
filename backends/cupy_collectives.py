"""Collective kernels for the CuPy backend: NCCL (through `cupy.cuda.nccl`) on device
buffers, one NCCL communicator per process group, its id agreed over the group's MPI
communicator (the only thing MPI carries on a GPU job)."""

from __future__ import annotations

from collections.abc import Callable

from graphgrad.errors import BackendError

_NCCL_TYPES = {"float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64", "int64": "NCCL_INT64",
               "int32": "NCCL_INT32"}
_NCCL_OPS = {"sum": "NCCL_SUM", "avg": "NCCL_SUM", "max": "NCCL_MAX", "min": "NCCL_MIN"}


def collective_kernels(cupy) -> dict[str, Callable]:
    """`all_reduce` and `broadcast` kernels for device arrays (NCCL is looked up at the
    first collective, so a CuPy without NCCL still runs everything else)."""
    comms: dict[int, object] = {}

    def nccl_module():
        try:
            from cupy.cuda import nccl  # present where CuPy was built with NCCL
        except ImportError as e:
            raise BackendError(f"collectives on cupy need NCCL, which this CuPy lacks ({e})")\
                from None
        return nccl

    def comm_of(group):
        nccl = nccl_module()
        comm = comms.get(id(group))
        if comm is None:
            uid = nccl.get_unique_id() if group.rank == 0 else None
            uid = group.comm.bcast(uid, root=0)
            cupy.cuda.Device(0).use()
            comm = comms[id(group)] = nccl.NcclCommunicator(group.size, uid, group.rank)
        return comm

    def all_reduce(x, op, group):
        out = cupy.array(x, order="C")  # a new buffer: kernels never write their input
        if group.size > 1:
            nccl, stream = nccl_module(), cupy.cuda.get_current_stream().ptr
            comm_of(group).allReduce(out.data.ptr, out.data.ptr, out.size,
                                     getattr(nccl, _NCCL_TYPES[out.dtype.name]),
                                     getattr(nccl, _NCCL_OPS[op]), stream)
        if op == "avg":
            out /= out.dtype.type(group.size)
        return out

    def broadcast(x, src, group):
        out = cupy.array(x, order="C")
        if group.size > 1:
            nccl, stream = nccl_module(), cupy.cuda.get_current_stream().ptr
            comm_of(group).bcast(out.data.ptr, out.size,
                                 getattr(nccl, _NCCL_TYPES[out.dtype.name]), src, stream)
        return out

    return {"all_reduce": all_reduce, "broadcast": broadcast}
