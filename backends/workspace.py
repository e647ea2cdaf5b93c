"""Scratch arrays that a kernel reuses from call to call (per thread, bounded in bytes).

A whole-sequence kernel (a GRU's backward, say) needs several temporaries of megabytes
each. Allocated afresh on every call, each one is new memory from the operating system
whose every page faults in on first touch: measured here, ~2,400 page faults per GRU
backward call, a fifth of its time. A workspace keeps such temporaries alive between
calls, keyed by (tag, shape, dtype), so a training loop that calls the kernel with the
same shapes step after step touches warm memory.

Only temporaries go here: a kernel never returns a workspace array (nor a view of one),
since the next call overwrites it. Each thread has its own arrays (two plans may run in
two threads at once), and a thread's arrays are dropped whenever they would exceed
`LIMIT_BYTES`, so a model whose shapes change keeps at most that much.
"""

from __future__ import annotations

import threading

LIMIT_BYTES = 64 << 20


class Workspace(threading.local):
    """`get(tag, shape, dtype)`: an uninitialized array, the same one on every call with
    the same key in this thread (see the module docstring)."""

    def __init__(self, xp):
        self.xp = xp
        self.arrays: dict[tuple, object] = {}
        self.nbytes = 0

    def get(self, tag: str, shape: tuple[int, ...], dtype):
        """The scratch array of `shape` and `dtype` known as `tag` (contents undefined)."""
        key = (tag, tuple(shape), dtype)
        found = self.arrays.get(key)
        if found is None:
            found = self.xp.empty(shape, dtype=dtype)
            if self.nbytes + found.nbytes > LIMIT_BYTES:
                self.arrays.clear()
                self.nbytes = 0
            if found.nbytes <= LIMIT_BYTES:
                self.arrays[key] = found
                self.nbytes += found.nbytes
        return found
