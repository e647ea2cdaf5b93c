"""The CuPy backend's indexing kernels: bounds checked on the device, scatters deterministic.

CuPy checks no index bounds (its take, fancy indexing and scatters wrap an index around),
where NumPy raises IndexError; a label out of range would give a silently wrong loss on
the GPU. A bounds check that raised at once would read a device value back at every
kernel (a host synchronization per op), so instead every checked kernel also launches a
small check kernel (`CHECK_SOURCE`) that records an offending index in a device-side
flag, and the backend reads the flag where the host waits for the device anyway: when a
result is converted to NumPy (`.numpy()`, `.item()`, printing) or on `synchronize()`.
Then `DeviceIndexError` names the op and the index; values computed after the bad index
(including state a compiled step updated) are unreliable, as the message says.

Gradients of indexing (`index_backward`, `gather_backward`) add duplicates up. CuPy's
`add.at` does that with atomics, in an order that changes from run to run (float sums
then differ in their last bits), and with 32-bit sizes. `SEGMENT_SUM_SOURCE` instead
sorts the target positions (a stable radix sort), and one thread per distinct position
adds its values in their original order: deterministic, bit for bit NumPy's `add.at`
order, and 64-bit throughout.
"""

from __future__ import annotations

import numpy as np

from graphgrad.errors import GraphgradError
from graphgrad.ops.shape import index_tuple

#: The ops whose indices are checked here (a kernel elsewhere may call `check` with its
#: own op name: each name gets a slot of the flag on first use, up to MAX_SLOTS).
CHECKED_OPS = ("index", "index_backward", "gather", "gather_backward", "one_hot")
MAX_SLOTS = 32
THREADS = 256
MAX_BLOCKS = 4096

CHECK_SOURCE = r"""
extern "C" __global__ void gg_check_index(const long long* idx, long long n, long long lo,
                                          long long hi, long long slot, long long* flag) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const long long v = idx[i];
    if (v < lo || v >= hi) {  // any offender will do: a benign race between threads
      flag[2 * slot] = 1;
      flag[2 * slot + 1] = v;
    }
  }
}
"""

#: out (rows x width, C-contiguous) [keys[i]] += vals[order[i]] for each i: one thread per
#: (distinct key, column) adds its run of the sorted keys in order. Keys outside
#: [0, rows) are skipped (the index check reports them): nothing is written out of bounds.
SEGMENT_SUM_SOURCE = r"""
extern "C" __global__ void gg_segment_sum_{name}(const long long* keys,
    const long long* order, const {ctype}* vals, long long n, long long width,
    long long rows, {ctype}* out) {{
  for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n * width;
       t += (long long)gridDim.x * blockDim.x) {{
    const long long i = t / width, c = t % width, k = keys[i];
    if ((i > 0 && keys[i - 1] == k) || k < 0 || k >= rows) continue;
    {ctype} acc = out[k * width + c];
    for (long long j = i; j < n && keys[j] == k; ++j) acc += vals[order[j] * width + c];
    out[k * width + c] = acc;
  }}
}}
"""
SEGMENT_TYPES = {np.dtype("float32"): "float", np.dtype("float64"): "double",
                 np.dtype("int64"): "long long", np.dtype("int32"): "int"}


class DeviceIndexError(GraphgradError, IndexError):
    """An index out of bounds, found on the device by a kernel's bounds check."""


def launch_shape(n: int) -> tuple[tuple[int], tuple[int]]:
    return (max(1, min(MAX_BLOCKS, -(-n // THREADS))),), (THREADS,)


def indexed_axes(spec, arrays, ndim: int) -> list[tuple[object, int]]:
    """(integer index array, the axis of x it indexes) for each tensor in an index spec;
    boolean masks index no single axis (they span their ndim axes: no bounds to check)."""
    it = iter(arrays)
    items = [(item[0], next(it) if item[0] == "tensor" else None) for item in spec]

    def width(kind, a) -> int:  # how many axes of x an item consumes
        if kind in ("none", "ellipsis"):
            return 0
        return a.ndim if a is not None and a.dtype.kind == "b" else 1

    consumed = sum(width(kind, a) for kind, a in items)
    out, axis = [], 0
    for kind, a in items:
        if kind == "ellipsis":
            axis += ndim - consumed
        elif a is not None and a.dtype.kind != "b":
            out.append((a, axis))
        axis += width(kind, a)
    return out


class IndexKernels:
    """The checked indexing kernels of one CupyBackend, and its device error flag."""

    def __init__(self, cp):
        self.cp = cp
        self.flag = cp.zeros(2 * MAX_SLOTS, dtype=cp.int64)
        self.slots: dict[str, int] = {op: i for i, op in enumerate(CHECKED_OPS)}
        self.armed = False  # a check ran since the flag was last read
        self.check_kernel = cp.RawKernel(CHECK_SOURCE, "gg_check_index")
        self.segment_kernels: dict = {}

    # ------------------------------------------------------------------ checks
    def check(self, idx, lo: int, hi: int, op: str) -> None:
        """Record (on the device, no wait) any element of `idx` outside [lo, hi); `op` is
        the name the error will give. For any kernel taking indices from the user."""
        cp = self.cp
        slot = self.slots.setdefault(op, len(self.slots))
        if slot >= MAX_SLOTS:
            raise GraphgradError(f"cupy backend: more than {MAX_SLOTS} ops check indices",
                                 op=op)
        idx = cp.ascontiguousarray(idx, dtype=cp.int64)
        if idx.size == 0:
            return
        grid, block = launch_shape(idx.size)
        self.check_kernel(grid, block, (idx, np.int64(idx.size), np.int64(lo), np.int64(hi),
                                        np.int64(slot), self.flag))
        self.armed = True

    def raise_pending(self) -> None:
        """Raise DeviceIndexError if a check recorded an offender (reads the flag back:
        called only where the host waits for the device anyway)."""
        if not self.armed:
            return
        self.armed = False
        host = self.cp.asnumpy(self.flag)
        if not host.any():
            return
        self.flag.fill(0)
        slot = int(np.flatnonzero(host[0::2])[0])
        op = next(name for name, i in self.slots.items() if i == slot)
        raise DeviceIndexError(
            f"index {int(host[2 * slot + 1])} is out of bounds (found on the GPU by {op}'s "
            "bounds check when results were read back: the values computed since, and "
            "state a compiled step updated, are unreliable)", op=op)

    # ------------------------------------------------------------------ kernels
    def index(self, x, *arrays, spec):
        for a, axis in indexed_axes(spec, arrays, x.ndim):
            self.check(a, -x.shape[axis], x.shape[axis], "index")
        return x[index_tuple(spec, arrays)]

    def gather(self, x, idx, axis):
        self.check(idx, 0, x.shape[axis], "gather")
        return self.cp.take_along_axis(x, idx, axis)

    def one_hot(self, idx, num_classes):
        cp = self.cp
        self.check(idx, 0, num_classes, "one_hot")
        return (idx[..., None] == cp.arange(num_classes)).astype(cp.int64)

    def index_put(self, x, v, *arrays, spec):
        """x with x[index] = v (where an index repeats, one of the writes stays: GPU
        threads write in no set order)."""
        for a, axis in indexed_axes(spec, arrays, x.ndim):
            self.check(a, -x.shape[axis], x.shape[axis], "index_put")
        out = x.copy()
        out[index_tuple(spec, arrays)] = v
        return out

    def check_index(self, idx, op, bound):
        self.check(idx, 0, bound, op)
        return idx.view()

    def index_backward(self, g, *arrays, spec, shape):
        cp = self.cp
        ints = indexed_axes(spec, arrays, len(shape))
        for a, axis in ints:
            self.check(a, -shape[axis], shape[axis], "index_backward")
        out = cp.zeros(shape, dtype=g.dtype)
        key = index_tuple(spec, arrays)
        if not ints:  # slices and masks select each element at most once
            out[key] = g
        elif spec == (("tensor",),):  # x[idx]: whole rows, summed per distinct row
            rows = ints[0][0].reshape(-1).astype(cp.int64)
            rows = cp.where(rows < 0, rows + shape[0], rows)
            width = out.size // shape[0] if shape[0] else 0
            self.segment_sum(out, rows, g.reshape(rows.size, width))
        else:
            positions = cp.arange(out.size, dtype=cp.int64).reshape(shape)[key]
            self.segment_sum(out, positions.reshape(-1), g.reshape(positions.size, 1))
        return out

    def gather_backward(self, g, idx, axis, shape):
        cp = self.cp
        self.check(idx, 0, shape[axis], "gather_backward")
        out = cp.zeros(shape, dtype=g.dtype)
        strides = [int(np.prod(shape[d + 1:], dtype=np.int64)) for d in range(len(shape))]
        flat = cp.zeros(idx.shape, dtype=cp.int64)
        for d, n in enumerate(idx.shape):
            pos = idx.astype(cp.int64) if d == axis else \
                cp.arange(n, dtype=cp.int64).reshape([n if e == d else 1 for e in range(idx.ndim)])
            flat = flat + pos * strides[d]
        self.segment_sum(out, flat.reshape(-1), g.reshape(-1, 1))
        return out

    def segment_sum(self, out, keys, vals) -> None:
        """out.reshape(rows, width)[keys[i]] += vals[i] (vals: (len(keys), width)), with
        duplicates added in their order: deterministic."""
        cp = self.cp
        n = keys.size
        width = vals.shape[1] if vals.ndim == 2 else 1
        if n == 0 or width == 0:
            return
        order = cp.argsort(keys)  # stable (CUB radix sort): equal keys keep their order
        sorted_keys = cp.ascontiguousarray(keys[order])
        vals = cp.ascontiguousarray(vals)
        grid, block = launch_shape(n * width)
        self._segment_kernel(out.dtype)(grid, block, (
            sorted_keys, cp.ascontiguousarray(order, dtype=cp.int64), vals, np.int64(n),
            np.int64(width), np.int64(out.size // width), out))

    def _segment_kernel(self, dtype):
        dtype = np.dtype(dtype)
        kernel = self.segment_kernels.get(dtype)
        if kernel is None:
            try:
                ctype = SEGMENT_TYPES[dtype]
            except KeyError:
                raise GraphgradError(f"cupy backend: no scatter-add kernel for {dtype}",
                                     op="index_backward") from None
            name = dtype.name
            kernel = self.cp.RawKernel(SEGMENT_SUM_SOURCE.format(name=name, ctype=ctype),
                                       f"gg_segment_sum_{name}")
            self.segment_kernels[dtype] = kernel
        return kernel
