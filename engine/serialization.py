"""`gg.save` / `gg.load`: state dicts in NumPy's .npz format, never pickled.

A file is an ordinary .npz archive: one array per tensor (named by its path in the
saved structure, so `np.load(path)["0.weight"]` works) plus `__graphgrad__`, a JSON
manifest (stored as bytes) describing the structure: dicts with str/int keys, lists,
tuples, numbers, strings and None around the tensors. That covers module and optimizer
state dicts. Loading treats the file as untrusted (`npz_reader`): it never unpickles,
checks the archive's structure, sizes and headers before allocating anything, and
validates every manifest entry, so any damaged or hostile file is a `SerializationError`
naming the file and what is wrong, never an internal error or a huge allocation.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .creation import physical_memory, tensor
from .errors import SerializationError
from .npz_reader import read_npz
from .source import user_source
from .tensor import Tensor

MANIFEST = "__graphgrad__"
FORMAT, VERSION = "graphgrad", 1
#: Deeper manifests than this are refused (a state dict is a few levels deep).
MAX_DEPTH = 64
#: Default byte limit on what a file may decompress to, when the OS does not say.
DEFAULT_MAX_BYTES = 1 << 34

__all__ = ["save", "load"]


def save(obj, f) -> None:
    """Write `obj` (a state dict, or dicts/lists of tensors and numbers) to `f` as .npz.

    `f` is a path (written to a temporary file, then renamed, so an interrupted save
    never leaves a half-written checkpoint) or a binary file object.
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays, "")
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    arrays[MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    if hasattr(f, "write"):
        np.savez(f, **arrays)
        return
    path = os.fspath(f)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _encode(obj, arrays: dict, path: str, seen: dict | None = None):
    """The manifest entry of obj (its arrays stored in `arrays`). A tensor met again is
    the same entry (it loads as one tensor, as PyTorch's); one that requires grad is a
    `tensor_grad` entry (it loads requiring grad)."""
    seen = {} if seen is None else seen
    if isinstance(obj, Tensor):
        if id(obj) not in seen:
            name = _store(obj.detach().numpy(), arrays, path)
            seen[id(obj)] = ({"tensor_grad" if obj.requires_grad else "tensor": name}, obj)
        return seen[id(obj)][0]
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise SerializationError(f"gg.save: the array at {path or 'top level'} has dtype "
                                     f"{obj.dtype}; only numeric and bool arrays are stored")
        return {"ndarray": _store(obj, arrays, path)}
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise SerializationError(f"gg.save: dict keys must be str or int, got "
                                         f"{type(k).__name__} at {path or 'top level'}")
            items.append([k, _encode(v, arrays, _join(path, k), seen)])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, arrays, _join(path, i), seen) for i, v in enumerate(obj)]}
    raise SerializationError(
        f"gg.save stores tensors, arrays, numbers, strings, None and dicts/lists/tuples of "
        f"them; got {type(obj).__name__} at {path or 'top level'}")


def _join(path: str, key) -> str:
    return f"{path}/{key}" if path else str(key)


def _store(arr: np.ndarray, arrays: dict, path: str) -> str:
    name, i = path or "tensor", 1
    while name in arrays or name == MANIFEST:
        name, i = f"{path}~{i}", i + 1
    arrays[name] = np.asarray(arr, order="C")  # keeps 0-d arrays 0-d
    return name


def load(f, map_location=None, *, max_bytes: int | None = None):
    """Read what `gg.save` wrote; tensors land on backend `map_location` (default backend).

    The file is untrusted input: anything damaged, forged or hostile (a pickle, object
    arrays, malformed manifest entries, forged .npy headers, damaged compression, zip
    bombs) raises `SerializationError` naming the file and the problem, and nothing is
    allocated before the archive's declared sizes have been checked against `max_bytes`
    (default: half this machine's memory).
    """
    try:
        return _load(f, map_location, _byte_limit(max_bytes))
    except SerializationError as e:
        raise e.locate(user_source(), "load") from e.__cause__


def _byte_limit(max_bytes: int | None) -> int:
    if max_bytes is not None:
        return int(max_bytes)
    memory = physical_memory()
    return memory // 2 if memory else DEFAULT_MAX_BYTES


def _load(f, map_location, max_bytes: int):
    where = os.fspath(f) if isinstance(f, (str, os.PathLike)) else \
        getattr(f, "name", "<file object>")
    manifest, arrays = _read(f, where, max_bytes)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SerializationError(f"{where}: the manifest is not a graphgrad manifest")
    if manifest.get("version") != VERSION:
        raise SerializationError(f"{where}: file format version {manifest.get('version')!r:.40}"
                                 f" is not supported (this graphgrad reads version {VERSION})")
    return _decode(manifest.get("tree"), arrays, map_location, where, 0, {})


def _read(f, where, max_bytes: int):
    arrays = read_npz(f, where, max_bytes)
    if MANIFEST not in arrays:
        raise SerializationError(
            f"{where} is an .npz archive but not a graphgrad state file (it has no "
            f"{MANIFEST} entry); it holds {', '.join(list(arrays)[:5]) or 'nothing'}")
    raw = arrays.pop(MANIFEST)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise SerializationError(f"{where}: the manifest is damaged (a {raw.dtype} array of "
                                 f"shape {raw.shape}, not bytes)")
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise SerializationError(f"{where}: the manifest is damaged: "
                                 f"{type(e).__name__}: {str(e)[:120]}") from None
    return manifest, arrays


def _decode(node, arrays: dict, map_location, where: str, depth: int,  # noqa: PLR0913
            loaded: dict):
    """The object of a manifest entry; `loaded`: the tensors made so far, by array (one
    per stored array, so tensors saved as one load as one)."""
    if depth > MAX_DEPTH:
        raise SerializationError(f"{where}: the manifest nests deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict) or len(node) != 1:
        raise SerializationError(f"{where}: malformed manifest entry {node!r:.80}")
    (kind, payload), = node.items()
    if kind in ("tensor", "tensor_grad", "ndarray"):
        return _decode_array(kind, payload, arrays, map_location, where, loaded)
    if kind == "value":
        if payload is not None and not isinstance(payload, (bool, int, float, str)):
            raise SerializationError(f"{where}: malformed value entry {payload!r:.80}")
        return payload
    if kind == "dict":
        return {_key(item, where): _decode(item[1], arrays, map_location, where, depth + 1,
                                           loaded)
                for item in _entries(payload, kind, where)}
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays, map_location, where, depth + 1, loaded)
                 for v in _entries(payload, kind, where)]
        return items if kind == "list" else tuple(items)
    raise SerializationError(f"{where}: unknown manifest entry kind {kind!r:.40}")


def _entries(payload, kind: str, where: str) -> list:
    if not isinstance(payload, list):
        raise SerializationError(f"{where}: malformed {kind} entry {payload!r:.80} (not a list)")
    return payload


def _key(item, where: str):
    if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))
            and not isinstance(item[0], bool)):
        raise SerializationError(f"{where}: malformed dict item {item!r:.80} (expected "
                                 "[str-or-int key, entry])")
    return item[0]


def _decode_array(kind: str, payload, arrays: dict, map_location, where: str,  # noqa: PLR0913
                  loaded: dict):
    if not isinstance(payload, str) or payload not in arrays:
        raise SerializationError(f"{where}: the manifest names array {payload!r:.80}, which "
                                 "the archive does not hold")
    arr = arrays[payload]
    if kind == "ndarray":
        return arr
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise SerializationError(f"{where}: array {payload!r:.80} holds the value "
                                 f"{int(arr.max())}, which does not fit a tensor's int64")
    key = (payload, kind)  # one tensor per stored array: shared ones stay shared
    if key not in loaded:
        grad = kind == "tensor_grad" and arr.dtype.kind == "f"
        loaded[key] = tensor(arr, device=map_location, requires_grad=grad)
    return loaded[key]

