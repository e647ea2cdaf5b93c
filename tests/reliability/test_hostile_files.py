"""gg.load on hostile files: each raises SerializationError naming the file and the fault.

Oracle: the file contract of issue 25. Each file here is built by hand (npz_craft.py) to
carry exactly one fault the issue lists (malformed manifest entries, deep nesting, a
header declaring a huge shape, damaged compression, zip bombs, uint64 values beyond
int64); loading it must raise `gg.SerializationError` (never another exception) whose
message names the file and the fault and this file's calling line, and the load's
peak traced allocation (tracemalloc sees NumPy's buffers) must stay under a ceiling
far below what the file declares.
"""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest
from npz_craft import (
    MANIFEST,
    archive,
    forge_sizes,
    manifest_bytes,
    npy_bytes,
    npy_with_header,
    overlapping_bomb,
    state_file,
)

import graphgrad as gg

CEILING = 32 << 20  # bytes: a load may allocate this much at most in these tests


def refused(data: bytes, tmp_path, *parts: str) -> gg.SerializationError:
    path = tmp_path / "hostile.npz"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(gg.SerializationError) as info:
            gg.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    msg = str(info.value)
    assert "hostile.npz" in msg and "test_hostile_files.py:" in msg, msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    assert peak < CEILING, f"load allocated {peak} bytes before refusing"
    return info.value


@pytest.mark.parametrize("tree,fault", [
    (5, "malformed manifest entry"),
    ({"dict": 5}, "malformed dict entry"),
    ({"dict": [[1]]}, "malformed dict item"),
    ({"dict": [[[1], {"value": 1}]]}, "malformed dict item"),  # an unhashable key
    ({"dict": [[True, {"value": 1}]]}, "malformed dict item"),
    ({"tensor": ["w"]}, "names array"),
    ({"tensor": "missing"}, "names array"),
    ({"value": [1, 2]}, "malformed value entry"),
    ({"value": {"a": 1}}, "malformed value entry"),
    ({"list": {"a": 1}}, "malformed list entry"),
    ({"tuple": None}, "malformed tuple entry"),
    ({"pickle": "cos\nsystem"}, "unknown manifest entry kind"),
    ({"a": 1, "b": 2}, "malformed manifest entry"),
])
def test_malformed_manifest_entries(tmp_path, tree, fault):
    refused(state_file(tree, {"w": np.ones(2, np.float32)}), tmp_path, fault)


def test_bad_manifest_headers(tmp_path):
    bad_version = archive({MANIFEST: manifest_bytes({"value": 1}, version=[1])})
    refused(bad_version, tmp_path, "version")
    foreign = archive({MANIFEST: manifest_bytes({"value": 1}, fmt="other")})
    refused(foreign, tmp_path, "not a graphgrad manifest")
    as_floats = archive({MANIFEST: npy_bytes(np.zeros(4))})
    refused(as_floats, tmp_path, "manifest is damaged")
    huge_int = archive({MANIFEST: npy_bytes(np.frombuffer(
        b'{"format": "graphgrad", "version": 1, "tree": {"value": 1' + b"0" * 5000 + b"}}",
        np.uint8))})
    refused(huge_int, tmp_path, "manifest is damaged")


@pytest.mark.parametrize("depth", [80, 100_000])
def test_deep_nesting(tmp_path, depth):
    raw = '{"list": [' * depth + "]}" * depth
    text = '{"format": "graphgrad", "version": 1, "tree": ' + raw + "}"
    data = archive({MANIFEST: npy_bytes(np.frombuffer(text.encode(), np.uint8))})
    refused(data, tmp_path, "deeper than" if depth < 1000 else "manifest is damaged")


def test_a_header_declaring_a_huge_shape(tmp_path):
    forged = npy_with_header("{'descr': '<f4', 'fortran_order': False, "
                             "'shape': (1000000, 1000000), }", b"\0" * 16)
    data = archive({MANIFEST: manifest_bytes({"tensor": "w"}), "w": forged})
    refused(data, tmp_path, "(1000000, 1000000)", "4000000000000 bytes")


@pytest.mark.parametrize("header,fault", [
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "non-negative"),
    ("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "unpickle"),
    ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "descr"),
    ("{'descr': '<f4', 'fortran_order': 1, 'shape': (1,), }", "fortran_order"),
    ("{'descr': '<f4', 'shape': (1,), }", "header"),
    ("[" * 5000 + "]" * 5000, "damaged .npy header"),
    ("__import__('os').system('echo pwned')", "damaged .npy header"),
])
def test_forged_npy_headers(tmp_path, header, fault):
    data = archive({MANIFEST: manifest_bytes({"tensor": "w"}),
                    "w": npy_with_header(header, b"\0" * 4)})
    refused(data, tmp_path, fault)


def test_damaged_compression(tmp_path):
    good = state_file({"tensor": "w"}, {"w": np.arange(4096, dtype=np.float32)},
                      compression=zipfile.ZIP_DEFLATED)
    assert gg.load(io.BytesIO(good)).tolist() == list(range(4096))
    for offset in (60, 200, 400):
        bad = bytearray(good)
        bad[offset] ^= 0x55
        refused(bytes(bad), tmp_path)


def test_a_member_declaring_more_than_deflate_can_produce(tmp_path):
    data = state_file({"tensor": "w"}, {"w": np.zeros(1000, np.float32)},
                      compression=zipfile.ZIP_DEFLATED)
    refused(forge_sizes(data, 3 << 30), tmp_path, "more than deflate can produce")


def test_an_overlapping_zip_bomb_is_refused_before_inflating(tmp_path):
    bomb = overlapping_bomb(copies=64, size=1 << 20)
    assert len(bomb) < 20_000  # 64 MiB declared in a few KB
    refused(bomb, tmp_path, "overlaps")


def test_the_total_size_limit(tmp_path):
    data = state_file({"tensor": "w"}, {"w": np.zeros(1 << 20, np.uint8)},
                      compression=zipfile.ZIP_DEFLATED)
    path = tmp_path / "big.npz"
    path.write_bytes(data)
    assert len(data) < 5000
    with pytest.raises(gg.SerializationError, match="limit of 100000 bytes"):
        gg.load(path, max_bytes=100_000)
    assert gg.load(path, max_bytes=2 << 20).shape == (1 << 20,)


def test_uint64_values_do_not_wrap(tmp_path):
    big = np.array([2**63, 1], dtype=np.uint64)
    data = state_file({"dict": [["t", {"tensor": "t"}], ["a", {"ndarray": "a"}]]},
                      {"t": big, "a": big})
    refused(data, tmp_path, "9223372036854775808", "int64")
    ok = state_file({"ndarray": "a"}, {"a": big})
    back = gg.load(io.BytesIO(ok))
    assert back.dtype == np.uint64 and back.tolist() == [2**63, 1]


def test_a_single_npy_and_garbage_are_refused(tmp_path):
    refused(npy_bytes(np.zeros(3)), tmp_path, "single .npy array")
    refused(b"\x80\x04K\x01.", tmp_path, "pickle")
    refused(b"hello world", tmp_path, "not a graphgrad state file")
    refused(b"", tmp_path, "not a graphgrad state file")


def test_good_files_still_load_exactly():
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3),
              "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
              "b": np.array([True, False]), "e": np.zeros((0, 3), np.float32)}
    tree = {"dict": [[k, {"tensor" if k != "f" else "ndarray": k}] for k in arrays]}
    back = gg.load(io.BytesIO(state_file(tree, arrays)))
    for k, v in arrays.items():
        got = back[k] if isinstance(back[k], np.ndarray) else back[k].numpy()
        np.testing.assert_array_equal(got, v)
        assert got.shape == v.shape
