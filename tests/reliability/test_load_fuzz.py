"""Fuzzing gg.load: randomly damaged files only ever raise SerializationError, in bounded memory.

Oracle: the file contract of issue 25. Hypothesis damages a valid checkpoint (stored and
deflated) by truncation, byte flips, edits of the manifest's JSON text and tree, and
forged .npy headers (any shape, dtype and order, with any amount of data). Every load
must either raise `gg.SerializationError` or return a value (for truncations and byte
flips, exactly the saved values: zip's CRC-32 guards the bytes), never another
exception; and its peak traced allocation (tracemalloc sees NumPy's buffers) must stay
under a fixed ceiling, whatever the file declares. Examples are bounded (derandomized),
so the whole file runs in well under a minute.
"""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from npz_craft import MANIFEST, archive, npy_bytes, npy_with_header

import graphgrad as gg
from graphgrad import nn

CEILING = 16 << 20  # bytes; the checkpoint itself is a few KB
SETTINGS = settings(max_examples=80, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _checkpoint(compression: int) -> bytes:
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))
    buf = io.BytesIO()
    gg.save({"model": model.state_dict(), "epoch": 3, "hist": [0.5, None, (1, 2)]}, buf)
    if compression == zipfile.ZIP_STORED:
        return buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        members = {n[:-4]: z.read(n) for n in z.namelist()}
    return archive(members, compression)


FILES = {"stored": _checkpoint(zipfile.ZIP_STORED),
         "deflated": _checkpoint(zipfile.ZIP_DEFLATED)}
SAVED = gg.load(io.BytesIO(FILES["stored"]))


def _same(loaded) -> bool:
    if not isinstance(loaded, dict) or loaded.keys() != SAVED.keys():
        return False
    if loaded["epoch"] != 3 or loaded["hist"] != SAVED["hist"]:
        return False
    model, saved = loaded["model"], SAVED["model"]
    return isinstance(model, dict) and model.keys() == saved.keys() and all(
        isinstance(model[k], gg.Tensor) and model[k].dtype == saved[k].dtype
        and np.array_equal(model[k].numpy(), saved[k].numpy()) for k in saved)


def load_bounded(data: bytes):
    """gg.load(data): the value or None (a SerializationError); nothing else, in bounded
    memory."""
    tracemalloc.start()
    try:
        try:
            out = gg.load(io.BytesIO(data))
        except gg.SerializationError as e:
            assert "<file object>" in str(e) or "BytesIO" in str(e), str(e)
            out = None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < CEILING, f"load allocated {peak} bytes"
    return out


def _members(kind: str) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(FILES[kind])) as z:
        return {n[:-4]: z.read(n) for n in z.namelist()}


kinds = st.sampled_from(sorted(FILES))


@given(kinds, st.data())
@SETTINGS
def test_truncation(kind, data):
    raw = FILES[kind]
    n = data.draw(st.integers(0, len(raw) - 1))
    assert load_bounded(raw[:n]) is None


@given(kinds, st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1,
                       max_size=6))
@SETTINGS
def test_byte_flips(kind, flips):
    raw = bytearray(FILES[kind])
    for pos, mask in flips:
        raw[pos % len(raw)] ^= mask
    out = load_bounded(bytes(raw))
    assert out is None or _same(out), "damaged bytes loaded as different values"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=12)


def _replace_random_node(tree, draw):
    """Replace one randomly chosen node of a JSON tree with a random JSON value."""
    if isinstance(tree, (list, dict)) and tree and draw(st.booleans()):
        keys = list(range(len(tree))) if isinstance(tree, list) else list(tree)
        key = draw(st.sampled_from(keys))
        tree[key] = _replace_random_node(tree[key], draw)
        return tree
    return draw(json_values)


@given(kinds, st.data())
@SETTINGS
def test_edited_manifest_tree(kind, data):
    members = _members(kind)
    manifest = json.loads(np.load(io.BytesIO(members[MANIFEST])).tobytes())
    manifest = _replace_random_node(manifest, data.draw)
    text = json.dumps(manifest).encode()
    members[MANIFEST] = npy_bytes(np.frombuffer(text, np.uint8))
    load_bounded(archive(members))


@given(st.data())
@SETTINGS
def test_edited_manifest_text(data):
    members = _members("stored")
    text = bytearray(np.load(io.BytesIO(members[MANIFEST])).tobytes())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 6))
        text[pos:pos + cut] = data.draw(st.binary(max_size=6))
    members[MANIFEST] = npy_bytes(np.frombuffer(bytes(text), np.uint8))
    load_bounded(archive(members))


dims = st.integers(-3, 2**40) | st.integers(0, 8)
descrs = st.sampled_from(["<f4", ">f8", "|b1", "<i8", "<u8", "<u2", "|O", "<c8", "|V8",
                          "<U3", "<M8[s]", "<f16", "|S0", "garbage"])


@given(st.data())
@SETTINGS
def test_forged_headers(data):
    members = _members("stored")
    target = data.draw(st.sampled_from(sorted(members)))
    shape = tuple(data.draw(st.lists(dims, max_size=4)))
    fortran = data.draw(st.booleans())
    header = f"{{'descr': '{data.draw(descrs)}', 'fortran_order': {fortran}, " \
             f"'shape': {shape}, }}"
    payload = data.draw(st.binary(max_size=64)) if data.draw(st.booleans()) else \
        members[target][128:]
    members[target] = npy_with_header(header, payload, major=data.draw(st.sampled_from([1, 2])))
    load_bounded(archive(members, data.draw(st.sampled_from([zipfile.ZIP_STORED,
                                                             zipfile.ZIP_DEFLATED]))))
