"""Building damaged and hostile .npz files byte by byte, for the gg.load tests.

Each helper returns the bytes of a file, written with `zipfile` and `numpy.lib.format`
directly (not gg.save), so the tests can put anything anywhere: forged .npy headers,
manifests of any shape, members whose central-directory fields lie.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np

MANIFEST = "__graphgrad__"


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def npy_with_header(header: str, data: bytes = b"", major: int = 1) -> bytes:
    """An .npy member whose header text is `header` verbatim (any shape or dtype)."""
    text = header.encode("latin1")
    size = struct.pack("<H" if major == 1 else "<I", len(text))
    return b"\x93NUMPY" + bytes([major, 0]) + size + text + data


def manifest_bytes(tree, fmt: str = "graphgrad", version=1) -> bytes:
    raw = json.dumps({"format": fmt, "version": version, "tree": tree}).encode()
    return npy_bytes(np.frombuffer(raw, dtype=np.uint8))


def archive(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """A zip of `members` (name -> member bytes; ".npy" is appended to each name)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)
    return buf.getvalue()


def state_file(tree, arrays: dict[str, np.ndarray] | None = None, **kw) -> bytes:
    """A graphgrad file with manifest `tree` and `arrays` (any dtypes, even forbidden)."""
    members = {MANIFEST: manifest_bytes(tree)}
    members.update({k: npy_bytes(v) for k, v in (arrays or {}).items()})
    return archive(members, **kw)


def central_entries(data: bytes) -> list[int]:
    """Offsets of the central-directory file headers of a zip."""
    out, pos = [], data.find(b"PK\x01\x02")
    while pos >= 0:
        out.append(pos)
        pos = data.find(b"PK\x01\x02", pos + 4)
    return out


def forge_sizes(data: bytes, file_size: int) -> bytes:
    """Claim `file_size` uncompressed bytes for every member, in local and central headers."""
    out = bytearray(data)
    for pos in central_entries(data):
        struct.pack_into("<I", out, pos + 24, file_size)
        (local,) = struct.unpack_from("<I", out, pos + 42)
        struct.pack_into("<I", out, local + 22, file_size)
    return bytes(out)


def overlapping_bomb(copies: int = 50, size: int = 1 << 20) -> bytes:
    """One deflated member of zeros that `copies` central-directory entries all point at:
    small on disk, `copies * size` bytes declared (the overlapping-files zip bomb)."""
    one = archive({"x": npy_bytes(np.zeros(size // 8))}, zipfile.ZIP_DEFLATED)
    cd = central_entries(one)[0]
    end = one.find(b"PK\x05\x06")
    entry = one[cd:end]
    name_len = struct.unpack_from("<H", entry, 28)[0]
    entries = []
    for i in range(copies):
        name = f"x{i:04d}.npy".encode()
        e = bytearray(entry[:46]) + name + entry[46 + name_len:]
        struct.pack_into("<H", e, 28, len(name))
        entries.append(bytes(e))
    central = b"".join(entries)
    eocd = bytearray(one[end:end + 22])
    struct.pack_into("<HHII", eocd, 8, copies, copies, len(central), cd)
    return one[:cd] + central + bytes(eocd)
