"""CPU EMULATION of `cupy.cuda`: one pretend device; streams and events that wait for
nothing (the emulation runs everything synchronously on the host). `cupy.cuda.nccl`
(nccl.py) is imported on demand, as in CuPy."""

import time
import types

NAME = "CPU emulation of CuPy (not a GPU)"


def _device_count():
    return 1


runtime = types.SimpleNamespace(
    getDeviceCount=_device_count,
    getDeviceProperties=lambda i: {"name": NAME.encode(), "totalGlobalMem": 0,
                                   "major": 0, "minor": 0},
    runtimeGetVersion=lambda: 0, driverGetVersion=lambda: 0,
    memGetInfo=lambda: (0, 0),
)


class Device:
    def __init__(self, device=0):
        self.id = device
        self.compute_capability = "emulated"

    def synchronize(self):
        pass

    def use(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Stream:
    """`ptr` is the handle NCCL calls take (an int; 0 for the null stream, as in CuPy)."""

    null = None
    _handles = iter(range(0x5000, 1 << 62, 0x10))

    def __init__(self, null=False, non_blocking=False):
        self.ptr = 0 if null else next(Stream._handles)

    def synchronize(self):
        pass

    def wait_event(self, event):
        if not isinstance(event, Event):
            raise TypeError(f"wait_event takes a cupy.cuda.Event, got {type(event).__name__}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


Stream.null = Stream(null=True)
_current = Stream.null


def get_current_stream():
    return _current


class Event:
    def __init__(self, *args, **kwargs):
        self.t = None

    def record(self, stream=None):
        self.t = time.perf_counter()

    @property
    def done(self):
        return True  # the emulation's work is finished when it returns

    def synchronize(self):
        pass


def get_elapsed_time(start, end):
    return (end.t - start.t) * 1e3
