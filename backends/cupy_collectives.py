"""Collective kernels for the CuPy backend: NCCL (through `cupy.cuda.nccl`) on device
buffers, one NCCL communicator per process group, its id agreed over the group's host
collective (MPI: the only thing MPI carries on a GPU job).

Every rank's communicator lives on the device current when its first collective runs
(the device the backend's arrays are on: the backend picks it, see cupy_backend.py). A
group of one process still goes through a one-rank communicator where NCCL is present,
so a machine with one GPU checks the NCCL path; without NCCL such a group's collectives
are plain copies (they are the identity there), and a group of several processes
raises. The test suite runs this file under its CPU emulation of `cupy.cuda.nccl`
(tests/cupy_emulation: the collectives over MPI on host memory), never GPU truth.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable

import numpy as np

from graphgrad.errors import BackendError

_NCCL_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32",
               "float64": "NCCL_FLOAT64", "int8": "NCCL_INT8", "uint8": "NCCL_UINT8",
               "int32": "NCCL_INT32", "uint32": "NCCL_UINT32", "int64": "NCCL_INT64",
               "uint64": "NCCL_UINT64"}
_NCCL_OPS = {"sum": "NCCL_SUM", "avg": "NCCL_SUM", "max": "NCCL_MAX", "min": "NCCL_MIN"}
_ID_BYTES = 128


def _nccl():
    """`cupy.cuda.nccl` when this CuPy has NCCL (the module always imports; its
    `available` says whether libnccl was found), else None."""
    try:
        from cupy.cuda import nccl
    except ImportError:
        return None
    return nccl if getattr(nccl, "available", False) else None


def _unique_id(nccl, group) -> tuple:
    """Rank 0's NCCL id on every rank, sent through the group's host broadcast (MPI's
    buffer-protocol Bcast under gg.distributed): a tuple of 128 chars, as NCCL wants."""
    uid = np.zeros(_ID_BYTES, np.int8)
    if group.rank == 0:
        uid[:] = nccl.get_unique_id()
    group.broadcast_host(uid, 0)
    return tuple(int(c) for c in uid)


#: Where MPI launchers put a process's rank among those on its machine (MPICH's Hydra,
#: Open MPI, Slurm).
_LOCAL_RANK_VARIABLES = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID")


def use_local_rank_device(cupy) -> None:
    """Under an MPI launcher on a machine with several GPUs, make the GPU of this
    process's local rank current (NCCL needs one device per rank; every process would
    otherwise share device 0), unless the process already chose another device. Called
    when the backend is built, before it holds any array."""
    local = next((os.environ[v] for v in _LOCAL_RANK_VARIABLES if v in os.environ), None)
    if local is None or cupy.cuda.Device().id != 0:
        return
    count = cupy.cuda.runtime.getDeviceCount()
    if count > 1:
        cupy.cuda.Device(int(local) % count).use()


def collective_kernels(cupy) -> dict[str, Callable]:
    """`all_reduce` and `broadcast` kernels for device arrays (NCCL is looked up at the
    first collective, so a CuPy without NCCL still runs everything else)."""
    comms = weakref.WeakKeyDictionary()  # group -> its NcclCommunicator on this rank

    def communicator(group, op_name):
        nccl = _nccl()
        if nccl is None:
            if group.size == 1:
                return None, None
            raise BackendError(f"{op_name} on cupy over {group.size} processes needs NCCL, "
                               "which this CuPy lacks (cupy.cuda.nccl.available is False)",
                               op=op_name)
        comm = comms.get(group)
        if comm is None:
            comm = comms[group] = nccl.NcclCommunicator(group.size, _unique_id(nccl, group),
                                                        group.rank)
        return nccl, comm

    def datatype(nccl, out, op_name):
        name = _NCCL_TYPES.get(out.dtype.name)
        if name is None:
            raise BackendError(f"{op_name} on cupy: NCCL has no {out.dtype.name} type "
                               f"(it takes {', '.join(_NCCL_TYPES)})", op=op_name)
        return getattr(nccl, name)

    def all_reduce(x, op, group):
        out = cupy.array(x, order="C")  # a new buffer: kernels never write their input
        nccl, comm = communicator(group, "all_reduce")
        if comm is not None and out.size:
            comm.allReduce(out.data.ptr, out.data.ptr, out.size,
                           datatype(nccl, out, "all_reduce"), getattr(nccl, _NCCL_OPS[op]),
                           cupy.cuda.get_current_stream().ptr)
        if op == "avg":
            out /= out.dtype.type(group.size)
        return out

    def broadcast(x, src, group):
        out = cupy.array(x, order="C")
        nccl, comm = communicator(group, "broadcast")
        if comm is not None and out.size:
            comm.bcast(out.data.ptr, out.size, datatype(nccl, out, "broadcast"), src,
                       cupy.cuda.get_current_stream().ptr)
        return out

    return {"all_reduce": all_reduce, "broadcast": broadcast}
