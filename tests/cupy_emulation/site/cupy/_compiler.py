"""CPU EMULATION's compiler: CUDA source as host C++ with g++, cached, compiled in batches.

Each kernel's host-side entry point (its source names it GG_EMU_ENTRY, inside a
namespace of the same name so that helpers of different kernels never clash) is queued
when the kernel object is made (`request`) and compiled, with every other queued one,
in a single g++ run when one of them is first called (`entry`): one compiler start per
batch instead of one per kernel. Libraries are cached in a temporary folder by the hash
of their text, and each entry point's digest records which library holds it, so another
process (a conformance run, an example) finds the kernels an earlier one compiled.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

SHIM = Path(__file__).with_name("_shim.h")
_SHIM_TEXT = SHIM.read_text()
CACHE = Path(tempfile.gettempdir()) / f"graphgrad-cupy-emulation-{os.getuid()}"
_libraries: dict[str, ctypes.CDLL] = {}
_lock = threading.Lock()
#: How many libraries this process compiled with g++ (tests read it).
compile_count = 0

TYPES = {"float32": ("float", np.float32), "float64": ("double", np.float64),
         "int64": ("long long", np.int64), "int32": ("int", np.int32),
         "int16": ("short", np.int16), "int8": ("signed char", np.int8),
         "uint8": ("unsigned char", np.uint8), "uint32": ("unsigned int", np.uint32),
         "uint64": ("unsigned long long", np.uint64), "bool": ("bool", np.bool_)}


def _digest(text: str) -> str:
    return hashlib.sha256((_SHIM_TEXT + text).encode()).hexdigest()[:24]


def _load_path(path: Path) -> ctypes.CDLL:
    lib = _libraries.get(path.name)
    if lib is None:
        lib = _libraries[path.name] = ctypes.CDLL(str(path))
    return lib


def _compile(digest: str, source: str) -> Path:
    global compile_count
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / f"{digest}.so"
    if target.exists():
        return target
    src = CACHE / f"{digest}.{os.getpid()}.cpp"
    src.write_text(f'#include "{SHIM}"\n{source}')
    tmp = CACHE / f"{digest}.{os.getpid()}.so"
    result = subprocess.run(["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-w", str(src),
                             "-o", str(tmp)], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"cupy emulation: the CUDA source does not compile as host C++:\n"
                           f"{result.stderr[-4000:]}\n--- source ---\n{source[-20000:]}")
    os.replace(tmp, target)
    src.unlink()
    compile_count += 1
    return target


_pending: dict[str, str] = {}  # digest -> entry-point source, not compiled yet
_entries: dict[str, object] = {}  # digest -> compiled function


def request(source: str) -> str:
    """Queue an entry-point source (its function is named GG_EMU_ENTRY); returns its key."""
    digest = _digest(source)
    if digest not in _entries:
        _pending[digest] = source
    return digest


def _from_disk(digest: str):
    """The entry point from a library an earlier process compiled, if any."""
    index = CACHE / f"{digest}.entry"
    if not index.exists():
        return None
    library = CACHE / index.read_text().strip()
    return getattr(_load_path(library), f"gg_entry_{digest}") if library.exists() else None


def entry(source: str):
    """The compiled function of an entry-point source (compiling every queued one)."""
    digest = request(source)
    fn = _entries.get(digest) or _from_disk(digest)
    if fn is not None:
        _entries[digest] = fn
        _pending.pop(digest, None)
        return fn
    with _lock:
        batch = {d: s for d, s in sorted(_pending.items()) if _from_disk(d) is None}
        _pending.clear()
        batch[digest] = source
        text = "\n".join(s.replace("GG_EMU_ENTRY", f"gg_entry_{d}") for d, s in batch.items())
        path = _compile(_digest(text), text)
        lib = _load_path(path)
        for d in batch:
            _entries[d] = getattr(lib, f"gg_entry_{d}")
            marker = CACHE / f"{d}.entry.{os.getpid()}"
            marker.write_text(path.name)
            os.replace(marker, CACHE / f"{d}.entry")
    return _entries[digest]


def compile_pending() -> None:
    """Compile every queued entry point now, in one batch (tests warm the cache so)."""
    if _pending:
        digest, source = next(iter(_pending.items()))
        entry(source)
