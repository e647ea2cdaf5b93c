"""Reading an .npz archive as untrusted input: check everything, then allocate.

`np.load` trusts the archive: it allocates whatever shape an .npy header declares, lets
zipfile inflate members of any declared size, and raises whatever the damage happens
to provoke (zlib.error, RecursionError, MemoryError, ...). `read_npz` instead checks
the archive's structure first (no overlapping members, as zip bombs use; each member's
declared size within what its compression can produce; the total within a byte limit),
then checks each member's .npy header against the member's declared size before
allocating its array, and reads exactly that many bytes. Every problem is a
`SerializationError` naming the file and the member. Nothing is ever unpickled.
"""

from __future__ import annotations

import ast
import io
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from .errors import SerializationError

#: Deflate cannot expand by more than 1032:1; the slack covers tiny members.
MAX_DEFLATE_RATIO, DEFLATE_SLACK = 1100, 1 << 16
MAX_HEADER_BYTES = 1 << 16
LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field
NPY_MAGIC = b"\x93NUMPY"

#: What damaged archive data can raise from zipfile, zlib and struct while being read.
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error,
           NotImplementedError, RuntimeError, ValueError, OverflowError)


def read_npz(f, where: str, max_bytes: int) -> dict[str, np.ndarray]:
    """Every array of the .npz archive `f` (a path or a binary file object), by name."""
    _sniff(f, where)
    size = _archive_size(f)
    try:
        with zipfile.ZipFile(f) as zf:
            infos = zf.infolist()
            _check_members(infos, size, where, max_bytes)
            return {info.filename[:-4]: _read_member(zf, info, where) for info in infos}
    except SerializationError:
        raise
    except _DAMAGE as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise SerializationError(f"{where} is damaged (truncated or corrupt) or not a "
                                 f"graphgrad state file: {type(e).__name__}: {e}") from None


def _sniff(f, where: str) -> None:
    """Refuse, with a useful message, files that are not zip archives at all."""
    if hasattr(f, "read"):
        pos = f.tell()
        head = f.read(8)
        f.seek(pos)
    else:
        with open(f, "rb") as fh:
            head = fh.read(8)
    if head.startswith(b"PK"):
        return
    if head.startswith(NPY_MAGIC):
        raise SerializationError(f"{where} holds a single .npy array, not a graphgrad state "
                                 "file (.npz written by gg.save)")
    if head[:1] == b"\x80":  # the PROTO opcode every pickle since protocol 2 starts with
        raise SerializationError(f"{where} looks like a pickle (torch.save writes those): "
                                 "refused, since gg.load never unpickles (to unpickle can "
                                 "run arbitrary code); save it with gg.save instead")
    raise SerializationError(f"{where} is damaged, truncated or not a graphgrad state file "
                             f"(an .npz archive); it starts with {head!r}")


def _archive_size(f) -> int:
    if hasattr(f, "seek"):
        pos = f.tell()
        end = f.seek(0, io.SEEK_END)
        f.seek(pos)
        return end - pos
    return os.path.getsize(f)


def _check_members(infos, archive_size: int, where: str, max_bytes: int) -> None:
    """Structure before content: names, compression, sizes, overlap and the total."""
    names = set()
    for info in infos:
        if not info.filename.endswith(".npy") or info.filename in names:
            raise SerializationError(f"{where}: the archive member {info.filename!r:.80} is "
                                     "not a uniquely named .npy array")
        names.add(info.filename)
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise SerializationError(f"{where}: member {info.filename!r:.80} is stored "
                                         f"uncompressed but declares {info.file_size} bytes "
                                         f"in {info.compress_size}")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > MAX_DEFLATE_RATIO * info.compress_size + DEFLATE_SLACK:
                raise SerializationError(
                    f"{where}: member {info.filename!r:.80} declares {info.file_size} bytes "
                    f"from {info.compress_size} compressed bytes, more than deflate can "
                    "produce (a forged header or a zip bomb)")
        else:
            raise SerializationError(f"{where}: member {info.filename!r:.80} uses compression "
                                     f"method {info.compress_type}; gg.load reads stored or "
                                     "deflated members only")
    _check_no_overlap(infos, archive_size, where)
    total = sum(info.file_size for info in infos)
    if total > max_bytes:
        raise SerializationError(
            f"{where}: the archive would decompress to {total} bytes, more than the limit of "
            f"{max_bytes} bytes (pass max_bytes= to gg.load to allow more)")


def _check_no_overlap(infos, archive_size: int, where: str) -> None:
    """Members must occupy disjoint byte ranges of the archive: overlapping members
    (one compressed stream counted many times) are how small zip bombs grow huge."""
    # a member spans at least its fixed 30-byte local header and its compressed data
    spans = sorted((info.header_offset, LOCAL_HEADER + info.compress_size, info.filename)
                   for info in infos)
    for (start, length, name), (next_start, _, _) in zip(spans, spans[1:]):
        if start + length > next_start:
            raise SerializationError(f"{where}: archive member {name!r:.80} overlaps the next "
                                     "one (a damaged or crafted archive, e.g. a zip bomb)")
    if sum(length for _, length, _ in spans) > archive_size:
        raise SerializationError(f"{where}: the members claim more bytes than the archive "
                                 f"has ({archive_size}); the file is truncated or forged")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    name = info.filename
    with zf.open(info) as fh:
        shape, fortran, dtype, header_len = _read_header(fh, where, name)
        nbytes = math.prod(shape) * dtype.itemsize
        if header_len + nbytes != info.file_size:
            raise SerializationError(
                f"{where}: member {name!r:.80} declares shape {shape} of {dtype} "
                f"({nbytes} bytes) but holds {info.file_size - header_len} bytes of data")
        buf = np.empty(nbytes, dtype=np.uint8)
        got = 0
        view = memoryview(buf)
        while got < nbytes:
            n = fh.readinto(view[got:])
            if not n:
                raise SerializationError(f"{where}: member {name!r:.80} is truncated "
                                         f"({got} of {nbytes} bytes)")
            got += n
        fh.read(1)  # reach the end of the member, so zipfile checks its CRC-32
    arr = buf.view(dtype)
    return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)


def _read_header(fh, where: str, name: str):
    """(shape, fortran_order, dtype, bytes read) from an .npy header, validated."""
    prefix = fh.read(8)
    if len(prefix) < 8 or not prefix.startswith(NPY_MAGIC):
        raise SerializationError(f"{where}: member {name!r:.80} is not an .npy array")
    major = prefix[6]
    fmt = {1: "<H", 2: "<I", 3: "<I"}.get(major)
    if fmt is None:
        raise SerializationError(f"{where}: member {name!r:.80} has .npy format version "
                                 f"{major}, which gg.load does not read")
    raw_len = fh.read(struct.calcsize(fmt))
    (length,) = struct.unpack(fmt, raw_len) if len(raw_len) == struct.calcsize(fmt) else (-1,)
    if not 0 <= length <= MAX_HEADER_BYTES:
        raise SerializationError(f"{where}: member {name!r:.80} has a damaged .npy header "
                                 f"(length {length})")
    header = fh.read(length)
    try:
        d = ast.literal_eval(header.decode("latin1" if major < 3 else "utf8"))
        shape, fortran, dtype = _header_fields(d)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError, KeyError,
            UnicodeDecodeError, OverflowError) as e:
        raise SerializationError(f"{where}: member {name!r:.80} has a damaged .npy header: "
                                 f"{type(e).__name__}: {str(e)[:120]}") from None
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.shape or dtype.names:
        raise SerializationError(
            f"{where} was refused: member {name!r:.80} holds dtype {dtype}; reading it would "
            "unpickle Python objects or is not a plain numeric array. gg.load only reads "
            "plain arrays, since to unpickle can run arbitrary code")
    return shape, fortran, dtype, 8 + len(raw_len) + length


def _header_fields(d):
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise ValueError(f"the header is not an .npy header dict: {d!r:.80}")
    shape, fortran = d["shape"], d["fortran_order"]
    if not isinstance(shape, tuple) or not all(type(s) is int and s >= 0 for s in shape):
        raise ValueError(f"shape {shape!r:.80} is not a tuple of non-negative ints")
    if not isinstance(fortran, bool):
        raise ValueError(f"fortran_order {fortran!r:.40} is not a bool")
    if not isinstance(d["descr"], str):
        raise ValueError(f"descr {d['descr']!r:.80} is not a plain dtype string")
    return shape, fortran, np.dtype(d["descr"])
