"""`gg.save` / `gg.load`: state dicts in NumPy's .npz format, never pickled.

A file is an ordinary .npz archive: one array per tensor (named by its path in the
saved structure, so `np.load(path)["0.weight"]` works) plus `__graphgrad__`, a JSON
manifest (stored as bytes) describing the structure: dicts with str/int keys, lists,
tuples, numbers, strings and None around the tensors. That covers module and optimizer
state dicts. Loading uses `allow_pickle=False` and reads every array up front, so a
truncated file, a pickle, or an archive holding Python objects is refused with a
`SerializationError` instead of executing anything.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from .creation import tensor
from .errors import SerializationError
from .source import user_source
from .tensor import Tensor

MANIFEST = "__graphgrad__"
FORMAT, VERSION = "graphgrad", 1

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


def _encode(obj, arrays: dict, path: str):
    if isinstance(obj, Tensor):
        return {"tensor": _store(obj.numpy(), arrays, path)}
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
            items.append([k, _encode(v, arrays, _join(path, k))])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, arrays, _join(path, i)) for i, v in enumerate(obj)]}
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


def load(f, map_location=None):
    """Read what `gg.save` wrote; tensors land on backend `map_location` (default backend).

    Raises `SerializationError` for a damaged or truncated file, a file that is not a
    graphgrad .npz, or one that would need unpickling (pickles, object arrays).
    """
    try:
        return _load(f, map_location)
    except SerializationError as e:
        raise e.locate(user_source(), "load") from e.__cause__


def _load(f, map_location):
    where = f if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "<file object>")
    manifest, arrays = _read(f, where)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SerializationError(f"{where}: the manifest is not a graphgrad manifest")
    if manifest.get("version") != VERSION:
        raise SerializationError(f"{where}: file format version {manifest.get('version')} is "
                                 f"not supported (this graphgrad reads version {VERSION})")
    return _decode(manifest.get("tree"), arrays, map_location, where)


def _read(f, where):
    try:
        npz = np.load(f, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise SerializationError(f"{where} holds a single .npy array, not a graphgrad "
                                     "state file (.npz written by gg.save)")
        with npz:
            arrays = {k: npz[k] for k in npz.files}  # reads (and checks) every member now
    except SerializationError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise SerializationError(
                f"{where} was refused: reading it would unpickle Python objects (it is a "
                "pickle, holds object arrays, or is not an .npz file at all); gg.load only "
                "reads plain arrays, since unpickling can run arbitrary code") from None
        raise SerializationError(f"{where} is damaged or not a graphgrad state file: {e}") \
            from None
    except (EOFError, OSError, zipfile.BadZipFile, KeyError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise SerializationError(f"{where} is damaged (truncated or corrupt) or not a graphgrad "
                                 f"state file: {type(e).__name__}: {e}") from None
    if MANIFEST not in arrays:
        raise SerializationError(
            f"{where} is an .npz archive but not a graphgrad state file (it has no "
            f"{MANIFEST} entry); it holds {', '.join(list(arrays)[:5]) or 'nothing'}")
    try:
        manifest = json.loads(arrays.pop(MANIFEST).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SerializationError(f"{where}: the manifest is damaged: {e}") from None
    return manifest, arrays


def _decode(node, arrays: dict, map_location, where: str):
    if not isinstance(node, dict) or len(node) != 1:
        raise SerializationError(f"{where}: malformed manifest entry {node!r:.80}")
    (kind, payload), = node.items()
    if kind in ("tensor", "ndarray"):
        if payload not in arrays:
            raise SerializationError(f"{where}: the manifest names array {payload!r}, which "
                                     "the archive does not hold")
        arr = arrays[payload]
        return tensor(arr, device=map_location) if kind == "tensor" else arr
    if kind == "value":
        return payload
    if kind == "dict":
        return {k: _decode(v, arrays, map_location, where) for k, v in payload}
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays, map_location, where) for v in payload]
        return items if kind == "list" else tuple(items)
    raise SerializationError(f"{where}: unknown manifest entry kind {kind!r}")
