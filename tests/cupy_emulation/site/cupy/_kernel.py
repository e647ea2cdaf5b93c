"""CPU EMULATION of `cupy.ElementwiseKernel` and `cupy.RawKernel`: the CUDA source runs for real.

The source a program hands CuPy is compiled as host C++ (`_compiler`: g++, with `_shim.h`
standing in for CUDA's built-ins), loaded with ctypes and called on the arrays' own
memory. So the
very code the GPU would run is checked, with CuPy's binding rules: an ElementwiseKernel
binds its non-raw parameters *by reference* (`const T &x = _raw_x[_ind.get()]`, as CuPy's
generated code does), so an output buffer overlapping an input is seen exactly as on the
device; input dtypes must be safely castable to the declared types ("Type is mismatched"
otherwise), output arrays handed in must have the declared dtype and the broadcast shape.
Threads run one after another: timings and races mean nothing here.
"""

from __future__ import annotations

import ctypes
import re

import numpy as np

from ._array import ndarray, unwrap_array
from ._compiler import TYPES, entry, request

# ---------------------------------------------------------------------- ElementwiseKernel

def _params(text: str):
    """[(name, type name or placeholder, raw)] of 'float32 x, raw T y'."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        words = part.split()
        raw = words[0] == "raw"
        words = words[1:] if raw else words
        if len(words) != 2:
            raise ValueError(f"cupy emulation: cannot parse kernel parameter {part!r}")
        out.append((words[1], words[0], raw))
    return out


class ElementwiseKernel:
    """CuPy's user-defined elementwise kernel, run as host C++ (see the module docstring)."""

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True,
                 preamble="", no_return=False, return_tuple=False, loop_prep="",
                 after_loop="", **kwargs):
        self.in_params, self.out_params = _params(in_params), _params(out_params)
        if any(raw for _, _, raw in self.in_params + self.out_params):
            raise NotImplementedError("cupy emulation: raw ElementwiseKernel parameters")
        self.operation, self.name, self.preamble = operation, name, preamble
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.nargs = self.nin + self.nout
        self.return_tuple = return_tuple
        if all(t in TYPES for _, t, _ in self.in_params + self.out_params):
            request(self._source({}, [TYPES[t][1] for _, t, _ in
                                      self.in_params + self.out_params]))

    def __call__(self, *args, size=None, block_size=None, stream=None):
        if len(args) not in (self.nin, self.nargs):
            raise TypeError(f"Wrong number of arguments for {self.name!r}: expected "
                            f"{self.nin} or {self.nargs}, got {len(args)}")
        ins, outs = list(args[:self.nin]), list(args[self.nin:])
        if size is None and not any(isinstance(a, ndarray) for a in args):
            raise ValueError("Loop size is undecided")  # CuPy: no array, no loop shape
        types = self._placeholders(ins)
        in_arrays = [self._input(a, p, types) for a, p in zip(ins, self.in_params)]
        shape = np.broadcast_shapes(*[a.shape for a in in_arrays],
                                    *[unwrap_array(o, "output").shape for o in outs])
        if outs:
            for o, (name, t, _) in zip(outs, self.out_params):
                dtype = np.dtype(types.get(t) or TYPES[t][1])
                if o.dtype != dtype:
                    raise TypeError(f"Type is mismatched. {name} {o.dtype} {dtype}")
                if o.shape != shape:
                    raise ValueError(f"Out shape is mismatched: {o.shape} vs {shape}")
        else:
            outs = [ndarray(np.empty(shape, types.get(t) or TYPES[t][1]))
                    for _, t, _ in self.out_params]
        self._run(shape, in_arrays + [o._a for o in outs], types)
        if len(outs) == 1 and not self.return_tuple:
            return outs[0]
        return tuple(outs)

    def _placeholders(self, ins) -> dict:
        types = {}
        for a, (_, t, _) in zip(ins, self.in_params):
            if t not in TYPES and isinstance(a, ndarray):
                types.setdefault(t, a.dtype)
        return types

    def _input(self, a, param, types) -> np.ndarray:
        name, t, _ = param
        dtype = np.dtype(types.get(t) or TYPES[t][1]) if (t in TYPES or t in types) else None
        if isinstance(a, ndarray):
            arr = a._a
            if dtype is None or arr.dtype == dtype:
                return arr
            if not np.can_cast(arr.dtype, dtype):
                raise TypeError(f"Type is mismatched. {name} {arr.dtype} {dtype}")
            return arr.astype(dtype)
        if isinstance(a, np.ndarray):
            raise TypeError(f"Unsupported type {type(a)}")
        if dtype is None:
            raise TypeError(f"cupy emulation: cannot infer type {t} of {name} from a scalar")
        return np.asarray(a, dtype)

    def _run(self, shape, arrays, types) -> None:
        n = int(np.prod(shape, dtype=np.int64))
        if n == 0:
            return
        ndim = len(shape)
        views = [np.broadcast_to(a, shape) if a.shape != shape else a for a in arrays]
        fn = entry(self._source(types, [a.dtype for a in arrays]))
        shape_c = (ctypes.c_longlong * max(ndim, 1))(*shape)
        ptrs = (ctypes.c_void_p * len(views))(*[v.ctypes.data for v in views])
        strides = (ctypes.c_longlong * max(len(views) * ndim, 1))(
            *[s for v in views for s in v.strides])
        fn(ctypes.c_longlong(n), ctypes.c_int(ndim), shape_c, ptrs, strides)

    def _source(self, types, dtypes) -> str:
        ctype = {np.dtype(v): c for c, v in TYPES.values()}
        typedefs = "".join(f"  typedef {ctype[np.dtype(d)]} {t};\n" for t, d in types.items())
        binds = []
        for k, ((name, _, _), dt) in enumerate(zip(self.in_params + self.out_params, dtypes)):
            const = "const " if k < self.nin else ""
            c = ctype[np.dtype(dt)]
            binds.append(f"    {const}{c} &{name} = *reinterpret_cast<{const}{c}*>"
                         f"(ptrs[{k}] + off[{k}]);")
        return "\n".join([
            "namespace ns_GG_EMU_ENTRY {",  # each kernel's preamble apart from the others'
            self.preamble,
            'extern "C" void GG_EMU_ENTRY(long long n, int ndim, const long long* shape,',
            "                             char** ptrs, const long long* strides) {",
            typedefs,
            "  for (long long i = 0; i < n; ++i) {",
            f"    long long off[{self.nargs}] = {{}};",
            "    long long rem = i;",
            "    for (int d = ndim - 1; d >= 0; --d) {",
            "      const long long k = rem % shape[d]; rem /= shape[d];",
            f"      for (int a = 0; a < {self.nargs}; ++a) off[a] += k * strides[a * ndim + d];",
            "    }",
            *binds,
            "    {", self.operation + ";", "    }",
            "  }",
            "}",
            "}  // namespace"])


# ---------------------------------------------------------------------- RawKernel

_SIGNATURE = r'extern\s+"C"\s+__global__\s+void\s+{name}\s*\(([^)]*)\)'


class RawKernel:
    """CuPy's raw CUDA kernel, launched serially over its grid and blocks on the host.

    Arguments are device arrays (passed as pointers; they must be C-contiguous, since the
    kernel sees a bare pointer) and NumPy scalars of exactly the parameter's C type."""

    def __init__(self, code, name, options=(), backend="nvrtc", translate_cucomplex=False,
                 **kwargs):
        match = re.search(_SIGNATURE.format(name=re.escape(name)), code)
        if match is None:
            raise ValueError(f"cupy emulation: no extern \"C\" __global__ {name} in source")
        self.code, self.name = code, name
        self.params = [p.strip() for p in match.group(1).split(",") if p.strip()]
        request(self._launcher())

    def _launcher(self) -> str:
        unpack = []
        for k, p in enumerate(self.params):
            ptype = re.sub(r"\b__restrict__\b", "", p).rsplit(None, 1)[0].strip()
            if p.rstrip().split()[-1].startswith("*"):
                ptype += "*"
            unpack.append(f"*reinterpret_cast<{ptype}*>(args[{k}])")
        loops = "\n".join(
            f"  for (unsigned {v} = 0; {v} < {lim}; ++{v})"
            for v, lim in (("bz", "g[2]"), ("by", "g[1]"), ("bx", "g[0]"),
                           ("tz", "b[2]"), ("ty", "b[1]"), ("tx", "b[0]")))
        return "\n".join([
            "namespace ns_GG_EMU_ENTRY {",  # apart from the other kernels of a batch
            self.code,
            'extern "C" void GG_EMU_ENTRY(const unsigned* g, const unsigned* b, void** args) {',
            "  gridDim = {g[0], g[1], g[2]}; blockDim = {b[0], b[1], b[2]};",
            loops + " {",
            "    blockIdx = {bx, by, bz}; threadIdx = {tx, ty, tz};",
            f"    {self.name}({', '.join(unpack)});", "  }", "}", "}  // namespace"])

    def __call__(self, grid, block, args, shared_mem=0, stream=None):
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: {len(self.params)} arguments expected, "
                            f"{len(args)} given")
        keep, ptrs = [], []
        for k, (a, p) in enumerate(zip(args, self.params)):
            keep.append(self._argument(k, a, p))
            ptrs.append(ctypes.cast(ctypes.pointer(keep[-1]), ctypes.c_void_p))
        dims = [tuple(d) + (1,) * (3 - len(d)) if isinstance(d, tuple) else (d, 1, 1)
                for d in (grid, block)]
        fn = entry(self._launcher())
        fn((ctypes.c_uint * 3)(*dims[0]), (ctypes.c_uint * 3)(*dims[1]),
           (ctypes.c_void_p * len(ptrs))(*ptrs))

    def _argument(self, k, a, param):
        if "*" in param:
            if not isinstance(a, ndarray):
                raise TypeError(f"{self.name}: argument {k} ({param}) needs a device array, "
                                f"got {type(a).__name__}")
            if not a._a.flags.c_contiguous:
                raise ValueError(f"{self.name}: argument {k} ({param}) is not C-contiguous "
                                 "(the kernel sees a bare pointer)")
            return ctypes.c_void_p(a._a.ctypes.data)
        ctype = re.sub(r"\bconst\b", "", param).rsplit(None, 1)[0].strip()
        want = {c: np.dtype(v) for c, v in TYPES.values()}.get(" ".join(ctype.split()))
        if not isinstance(a, np.generic) or want is None or a.dtype != want:
            raise TypeError(f"{self.name}: argument {k} ({param}) needs a NumPy scalar of "
                            f"dtype {want}, got {a!r} (Python scalars are ambiguous)")
        return ctypes.create_string_buffer(a.tobytes(), a.dtype.itemsize)
