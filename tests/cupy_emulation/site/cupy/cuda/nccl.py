"""CPU EMULATION of `cupy.cuda.nccl` (CuPy's wrapper of NCCL): NOT NCCL, not GPU truth.

The real module (cupy_backends/cuda/libs/nccl.pyx) wraps libnccl: `get_unique_id()`
gives a 128-char id (a tuple of ints) that one rank makes and every rank receives by
other means (MPI); `NcclCommunicator(ndev, commId, rank)` joins the `ndev` ranks that
share the id; its collectives take raw device pointers, element counts, NCCL's enum
values and a stream handle, and are queued on that stream.

Here device memory is host memory (the emulation's arrays are NumPy arrays; `.data.ptr`
is their address), so the collectives read and write through those addresses, at once
(the emulation's streams are synchronous). A one-rank communicator works in-process; a
communicator of several ranks runs over MPI (mpi4py's COMM_WORLD: the processes
`mpirun` started), after checking, as NCCL's rendezvous requires, that every rank got
the same id and a distinct rank. Argument checks follow the Cython signatures: `commId`
a tuple of 128 chars, pointers, counts, enums and the stream plain integers (a `Stream`
object instead of `stream.ptr` is a TypeError, as in CuPy).
"""

from __future__ import annotations

import ctypes
import operator
import os

import numpy as np

from . import Device

available = True
NCCL_UNIQUE_ID_BYTES = 128
#: The NCCL version the emulation answers with (ncclGetVersion's encoding, 2.18.5).
_VERSION = 21805

NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN, NCCL_AVG = 0, 1, 2, 3, 4
NCCL_INT8 = NCCL_CHAR = 0
NCCL_UINT8 = 1
NCCL_INT32 = NCCL_INT = 2
NCCL_UINT32 = 3
NCCL_INT64 = 4
NCCL_UINT64 = 5
NCCL_FLOAT16 = NCCL_HALF = 6
NCCL_FLOAT32 = NCCL_FLOAT = 7
NCCL_FLOAT64 = NCCL_DOUBLE = 8
NCCL_BFLOAT16 = 9

_DTYPES = {NCCL_INT8: np.int8, NCCL_UINT8: np.uint8, NCCL_INT32: np.int32,
           NCCL_UINT32: np.uint32, NCCL_INT64: np.int64, NCCL_UINT64: np.uint64,
           NCCL_FLOAT16: np.float16, NCCL_FLOAT32: np.float32, NCCL_FLOAT64: np.float64}
_REDUCE = {NCCL_SUM: np.add, NCCL_PROD: np.multiply, NCCL_MAX: np.maximum,
           NCCL_MIN: np.minimum, NCCL_AVG: np.add}
_ERRORS = {1: ("NCCL_ERROR_UNHANDLED_CUDA_ERROR", "unhandled cuda error"),
           2: ("NCCL_ERROR_SYSTEM_ERROR", "unhandled system error"),
           3: ("NCCL_ERROR_INTERNAL_ERROR", "internal error"),
           4: ("NCCL_ERROR_INVALID_ARGUMENT", "invalid argument"),
           5: ("NCCL_ERROR_INVALID_USAGE", "invalid usage")}
_INVALID_ARGUMENT, _INVALID_USAGE = 4, 5


class NcclError(RuntimeError):
    """CuPy's: `'%s: %s' % (error name, ncclGetErrorString)`; the emulation adds why."""

    def __init__(self, status: int, detail: str = ""):
        self.status = status
        name, text = _ERRORS[status]
        super().__init__(f"{name}: {text}" + (f" (CuPy emulation: {detail})" if detail else ""))

    def __reduce__(self):
        return (type(self), (self.status,))


def get_build_version() -> int:
    return _VERSION


def get_version() -> int:
    return _VERSION


def get_unique_id() -> tuple:
    """128 random chars as signed ints, as CuPy returns ncclUniqueId.internal."""
    return tuple(b - 256 if b > 127 else b for b in os.urandom(NCCL_UNIQUE_ID_BYTES))


_group_depth = 0


def groupStart() -> None:  # noqa: N802  (CuPy's names)
    global _group_depth
    _group_depth += 1


def groupEnd() -> None:  # noqa: N802
    global _group_depth
    if _group_depth == 0:
        raise NcclError(_INVALID_USAGE, "groupEnd() without groupStart()")
    _group_depth -= 1


def _c_int(value, name: str, unsigned: bool = False) -> int:
    """Cython's conversion of an argument declared int / intptr_t / size_t."""
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"an integer is required (argument {name!r} got "
                        f"{type(value).__name__})") from None
    if unsigned and value < 0:
        raise OverflowError(f"can't convert negative value to size_t ({name})")
    return value


def _commid(commId) -> tuple:  # noqa: N803
    if not isinstance(commId, tuple):
        raise TypeError(f"Argument 'commId' has incorrect type (expected tuple, got "
                        f"{type(commId).__name__})")
    assert len(commId) == NCCL_UNIQUE_ID_BYTES
    for c in commId:
        if not -128 <= _c_int(c, "commId") <= 127:
            raise OverflowError("value too large to convert to char")
    return commId


def _dtype(datatype) -> np.dtype:
    datatype = _c_int(datatype, "datatype")
    if datatype not in _DTYPES:
        raise NcclError(_INVALID_ARGUMENT, f"datatype {datatype} is not one the emulation "
                        "holds (bfloat16 has no NumPy type)")
    return np.dtype(_DTYPES[datatype])


def _memory(ptr, count, dtype: np.dtype) -> np.ndarray:
    """`count` elements of `dtype` at device (here: host) address `ptr`, as a NumPy view."""
    ptr = _c_int(ptr, "buffer")
    if count == 0:
        return np.empty(0, dtype)
    if ptr == 0:
        raise NcclError(_INVALID_ARGUMENT, "a NULL buffer pointer")
    raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(raw, dtype=dtype)


class NcclCommunicator:
    """One rank's communicator (see the module doc); `initAll` for one process's devices."""

    def __init__(self, ndev, commId, rank):  # noqa: N803
        ndev, rank = _c_int(ndev, "ndev"), _c_int(rank, "rank")
        commId = _commid(commId)
        if ndev < 1 or not 0 <= rank < ndev:
            raise NcclError(_INVALID_ARGUMENT, f"rank {rank} of {ndev}")
        self._ndev, self._rank, self._mpi = ndev, rank, None
        if ndev > 1:
            self._mpi = _rendezvous(ndev, commId, rank)
        self._device = Device().id
        self._comm = id(self)

    @staticmethod
    def initAll(devices):  # noqa: N802
        count = len(devices) if isinstance(devices, list) else devices
        if not isinstance(count, int):
            raise ValueError("\"devices\" should be an int or a list of int.")
        if count != 1:
            raise NcclError(_INVALID_ARGUMENT, "the emulation has one device per process")
        return [NcclCommunicator(1, get_unique_id(), 0)]

    @property
    def comm(self) -> int:
        return self._comm

    def destroy(self) -> None:
        if self._mpi is not None:
            self._mpi.Free()
        self._mpi, self._comm = None, 0

    abort = destroy

    def device_id(self) -> int:
        return self._device

    def rank_id(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._ndev

    def check_async_error(self) -> None:
        self._live()

    def _live(self) -> None:
        if not self._comm:
            raise NcclError(_INVALID_ARGUMENT, "the communicator was destroyed")

    def _args(self, count, datatype, stream):
        self._live()
        _c_int(stream, "stream")
        return _c_int(count, "count", unsigned=True), _dtype(datatype)

    def _gather(self, send: np.ndarray) -> np.ndarray:
        """Every rank's `send`, stacked in rank order (shape [ndev, count])."""
        if self._mpi is None:
            return send[None].copy()
        out = np.empty((self._ndev, send.size), send.dtype)
        self._mpi.Allgather(send.view(np.uint8), out.view(np.uint8))
        return out

    def _reduced(self, send: np.ndarray, op) -> np.ndarray:
        op = _c_int(op, "op")
        if op not in _REDUCE:
            raise NcclError(_INVALID_ARGUMENT, f"reduction op {op}")
        result = _REDUCE[op].reduce(self._gather(send), axis=0)
        if op == NCCL_AVG:
            if send.dtype.kind != "f":
                raise NcclError(_INVALID_ARGUMENT, "ncclAvg on integers")
            result = (result / self._ndev).astype(send.dtype)
        return result

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):  # noqa: N802
        count, dtype = self._args(count, datatype, stream)
        send, recv = _memory(sendbuf, count, dtype), _memory(recvbuf, count, dtype)
        recv[...] = self._reduced(send.copy(), op)

    def reduce(self, sendbuf, recvbuf, count, datatype, op, root, stream):
        count, dtype = self._args(count, datatype, stream)
        result = self._reduced(_memory(sendbuf, count, dtype).copy(), op)
        if self._rank == _c_int(root, "root"):
            _memory(recvbuf, count, dtype)[...] = result

    def bcast(self, buff, count, datatype, root, stream):
        count, dtype = self._args(count, datatype, stream)
        self._bcast(_memory(buff, count, dtype), _c_int(root, "root"))

    def broadcast(self, sendbuff, recvbuff, count, datatype, root, stream):
        count, dtype = self._args(count, datatype, stream)
        root, recv = _c_int(root, "root"), _memory(recvbuff, count, dtype)
        if self._rank == root:
            recv[...] = _memory(sendbuff, count, dtype).copy()
        self._bcast(recv, root)

    def _bcast(self, buf: np.ndarray, root: int) -> None:
        if not 0 <= root < self._ndev:
            raise NcclError(_INVALID_ARGUMENT, f"root {root} of {self._ndev} ranks")
        if self._mpi is not None and buf.size:
            staged = buf.copy()
            self._mpi.Bcast(staged.view(np.uint8), root=root)
            buf[...] = staged

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):  # noqa: N802
        count, dtype = self._args(count, datatype, stream)
        gathered = self._gather(_memory(sendbuf, count, dtype).copy())
        _memory(recvbuf, count * self._ndev, dtype)[...] = gathered.reshape(-1)

    def reduceScatter(self, sendbuf, recvbuf, recvcount, datatype, op, stream):  # noqa: N802
        count, dtype = self._args(recvcount, datatype, stream)
        result = self._reduced(_memory(sendbuf, count * self._ndev, dtype).copy(), op)
        _memory(recvbuf, count, dtype)[...] = result[self._rank * count:(self._rank + 1) * count]


def _rendezvous(ndev: int, commId: tuple, rank: int):  # noqa: N803
    """The MPI communicator standing in for NCCL's: COMM_WORLD's ranks, checked."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise NcclError(_INVALID_USAGE, f"{ndev} ranks need mpi4py here ({e})") from None
    world = MPI.COMM_WORLD
    if world.Get_size() != ndev or world.Get_rank() != rank:
        raise NcclError(_INVALID_USAGE, f"communicator rank {rank} of {ndev} in MPI process "
                        f"{world.Get_rank()} of {world.Get_size()}: the emulation runs a "
                        "communicator over all of mpirun's processes, in their order")
    seen = world.allgather((commId, rank))
    if len({c for c, _ in seen}) != 1:
        raise NcclError(_INVALID_USAGE, "the ranks were given different unique ids: the id "
                        "must be made by one rank (get_unique_id) and sent to the others")
    if sorted(r for _, r in seen) != list(range(ndev)):
        raise NcclError(_INVALID_USAGE, "two processes claimed the same rank")
    return world.Dup()
