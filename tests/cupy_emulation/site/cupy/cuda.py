"""CPU EMULATION of `cupy.cuda`: one pretend device; streams and events that wait for
nothing (the emulation runs everything synchronously on the host)."""

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
    null = None

    def __init__(self, null=False, non_blocking=False):
        pass

    def synchronize(self):
        pass

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

    def synchronize(self):
        pass


def get_elapsed_time(start, end):
    return (end.t - start.t) * 1e3
