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

No hangs: NCCL collectives run on the device, so a rank whose peer never arrives would
block at its next synchronization for ever. Over several processes the host therefore
waits for each collective (where the plan waits for it: after the rest of the backward
pass) at most the group's timeout (`gg.distributed.init(timeout=...)`), then aborts the
communicator (`ncclCommAbort`) and raises a DistributedError naming the rank, as the
MPI path does. (Under the test suite's emulation collectives finish at once, so only
the deadline's logic is tested there.)
"""

from __future__ import annotations

import os
import time
import weakref

import numpy as np

from graphgrad.errors import BackendError, DistributedError

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


class NcclCollectives:
    """The CuPy backend's collectives: `all_reduce` and `broadcast` kernels, and
    `all_reduce_start` (Backend's optional member) which queues the all-reduce on a
    stream of its own, so the kernels queued meanwhile on the compute stream (the rest of
    the backward pass) run while NCCL communicates, as PyTorch's DDP does. NCCL is looked
    up at the first collective, so a CuPy without NCCL still runs everything else."""

    def __init__(self, cupy):
        self.cp = cupy
        self.comms = weakref.WeakKeyDictionary()  # group -> its NcclCommunicator here
        self.side_streams: dict[int, object] = {}  # device id -> the collectives' stream

    def communicator(self, group, op_name: str):
        """(nccl module, this rank's communicator for `group`), or (None, None) for a
        group of one without NCCL."""
        nccl = _nccl()
        if nccl is None:
            if group.size == 1:
                return None, None
            raise BackendError(f"{op_name} on cupy over {group.size} processes needs NCCL, "
                               "which this CuPy lacks (cupy.cuda.nccl.available is False)",
                               op=op_name)
        comm = self.comms.get(group)
        if comm is None:
            comm = self.comms[group] = nccl.NcclCommunicator(
                group.size, _unique_id(nccl, group), group.rank)
        return nccl, comm

    def _issue(self, out, op: str, group, stream):
        """Queue the in-place all-reduce of `out` on `stream`; returns the communicator
        (None where nothing was queued)."""
        nccl, comm = self.communicator(group, "all_reduce")
        if comm is None or not out.size:
            return None
        comm.allReduce(out.data.ptr, out.data.ptr, out.size,
                       _datatype(nccl, out, "all_reduce"), getattr(nccl, _NCCL_OPS[op]),
                       stream.ptr)
        return comm

    def _watch(self, event, comm, group, what: str) -> None:
        """Over several ranks, wait on the host until `event` (recorded after a
        collective) has passed, at most the group's timeout (see the module doc)."""
        timeout = getattr(group, "timeout", None)
        if comm is None or group.size == 1 or timeout is None:
            return
        start = time.monotonic()
        pause = 0.0
        while not event.done:
            waited = time.monotonic() - start
            if waited > timeout:
                comm.abort()
                self.comms.pop(group, None)
                raise DistributedError(
                    f"{what} (NCCL) on rank {group.rank} of {group.size} timed out after "
                    f"{timeout:g} s: another rank failed or did not reach the same "
                    "collective (raise the limit with gg.distributed.init(timeout=...))",
                    op=what)
            if waited > 0.05:  # spin for the first 50 ms, then poll gently
                time.sleep(pause)
                pause = min(max(pause * 2, 1e-4), 1e-2)

    def _passed(self, stream):
        event = self.cp.cuda.Event(disable_timing=True)
        event.record(stream)
        return event

    def all_reduce(self, x, op, group):
        out = self.cp.array(x, order="C")  # a new buffer: kernels never write their input
        stream = self.cp.cuda.get_current_stream()
        comm = self._issue(out, op, group, stream)
        self._watch(self._passed(stream), comm, group, "all_reduce")
        if op == "avg":
            out /= out.dtype.type(group.size)
        return out

    def all_reduce_start(self, x, op, group):
        """Queue the all-reduce of a copy of x on the collectives' stream, after the work
        queued so far on the current stream; `wait()` makes the current stream wait for
        it and gives the result. The copy stays referenced until then, so the memory
        pool cannot hand its memory out while NCCL still uses it."""
        cuda = self.cp.cuda
        out = self.cp.array(x, order="C")
        compute = cuda.get_current_stream()
        device = cuda.Device().id
        side = self.side_streams.get(device)
        if side is None:
            side = self.side_streams[device] = cuda.Stream(non_blocking=True)
        side.wait_event(self._passed(compute))
        comm = self._issue(out, op, group, side)
        done = self._passed(side)

        def wait():
            self._watch(done, comm, group, "all_reduce")
            cuda.get_current_stream().wait_event(done)
            if op == "avg":
                self.cp.true_divide(out, out.dtype.type(group.size), out=out)
            return out

        return wait

    def broadcast(self, x, src, group):
        out = self.cp.array(x, order="C")
        nccl, comm = self.communicator(group, "broadcast")
        if comm is not None and out.size:
            stream = self.cp.cuda.get_current_stream()
            comm.bcast(out.data.ptr, out.size, _datatype(nccl, out, "broadcast"), src,
                       stream.ptr)
            self._watch(self._passed(stream), comm, group, "broadcast")
        return out


def _datatype(nccl, out, op_name: str) -> int:
    name = _NCCL_TYPES.get(out.dtype.name)
    if name is None:
        raise BackendError(f"{op_name} on cupy: NCCL has no {out.dtype.name} type "
                           f"(it takes {', '.join(_NCCL_TYPES)})", op=op_name)
    return getattr(nccl, name)
