"""The process group this process joined (`gg.distributed.init`), if any."""

from __future__ import annotations

from ..errors import DistributedError
from ..source import user_source
from .group import DEFAULT_TIMEOUT, ProcessGroup, connect

_group: ProcessGroup | None = None


def init(timeout: float | None = None) -> ProcessGroup:
    """Join the processes `mpirun`/`mpiexec` started (a single process is a group of one).
    An uncaught exception on any rank then ends every rank, naming the rank."""
    global _group
    if _group is None:
        _group = connect(DEFAULT_TIMEOUT if timeout is None else timeout)
        _group.abort_on_failure()
    elif timeout is not None:
        _group.timeout = float(timeout)
    return _group


def group() -> ProcessGroup:
    if _group is None:
        raise DistributedError("no process group: call gg.distributed.init() first (and start "
                               "the processes with mpirun -n N)", source=user_source())
    return _group


def is_initialized() -> bool:
    return _group is not None


def destroy() -> None:
    global _group
    _group = None
