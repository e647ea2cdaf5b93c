"""Damaged, truncated and pickled files: a SerializationError, never a crash or an unpickle.

Oracles: a pickle whose unpickling has a visible side effect (it would create a marker
file) must leave no marker; every truncation of a valid checkpoint and every random
corruption of its bytes either raises `gg.SerializationError` naming the file and the
calling line of this file, or loads exactly the saved values (zip's CRC-32 guards the
arrays, so damaged data is never returned silently).
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphgrad as gg
from graphgrad import nn

FILE = "test_corrupt_files.py"


def _checkpoint() -> bytes:
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    buf = io.BytesIO()
    gg.save({"model": model.state_dict(), "step": 7}, buf)
    return buf.getvalue()


GOOD = _checkpoint()
SAVED = gg.load(io.BytesIO(GOOD))


def _same(loaded) -> bool:
    if loaded.keys() != SAVED.keys() or loaded["step"] != SAVED["step"]:
        return False
    model, saved = loaded["model"], SAVED["model"]
    return model.keys() == saved.keys() and all(
        np.array_equal(model[k].numpy(), saved[k].numpy()) for k in saved)


def _load_or_refuse(data: bytes, path):
    """Load `data` from `path`: the saved values, or a SerializationError in user terms."""
    path.write_bytes(data)
    line = _load_or_refuse.__code__.co_firstlineno + 5
    try:
        loaded = gg.load(path)  # the line the error must name
    except gg.SerializationError as e:
        assert path.name in str(e) and f"{FILE}:{line}" in str(e), str(e)
        assert e.op == "load"
        return None
    assert _same(loaded), "a damaged file loaded different values"
    return loaded


class _Payload:
    """Unpickling this creates the marker file: proof that a pickle was executed."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "unpickled.txt"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"weight": _Payload(str(marker))}))
    with pytest.raises(gg.SerializationError, match="unpickl") as err:
        gg.load(path)
    assert not marker.exists()
    assert f"{FILE}:" in str(err.value) and "evil.pt" in str(err.value)


def test_an_npz_holding_a_pickled_object_array_is_refused_unexecuted(tmp_path):
    marker = tmp_path / "unpickled.txt"
    path = tmp_path / "objects.npz"
    with open(path, "wb") as f:
        np.savez(f, __graphgrad__=np.frombuffer(b"{}", np.uint8),
                 w=np.array([_Payload(str(marker))], dtype=object))
    with pytest.raises(gg.SerializationError, match="unpickl"):
        gg.load(path)
    assert not marker.exists()


def test_every_truncation_is_refused(tmp_path):
    lengths = sorted(set(range(0, len(GOOD), max(1, len(GOOD) // 97))) | {len(GOOD) - 1})
    for n in lengths:
        assert _load_or_refuse(GOOD[:n], tmp_path / "cut.npz") is None, n


@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(1, 255)),
                min_size=1, max_size=4))
@settings(max_examples=150, deadline=None, derandomize=True)
def test_random_corruption_is_refused_or_harmless(tmp_path_factory, flips):
    data = bytearray(GOOD)
    for pos, mask in flips:
        data[pos] ^= mask
    _load_or_refuse(bytes(data), tmp_path_factory.mktemp("flip") / "flipped.npz")


def test_a_foreign_archive_and_a_bad_manifest_are_refused(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(gg.SerializationError, match="not a graphgrad state file"):
        gg.load(path)
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as z:
        buf = io.BytesIO()
        np.save(buf, np.frombuffer(b"{not json", np.uint8))
        z.writestr("__graphgrad__.npy", buf.getvalue())
    with pytest.raises(gg.SerializationError, match="manifest"):
        gg.load(tmp_path / "bad.npz")


def test_a_missing_file_is_the_usual_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        gg.load(os.fspath(tmp_path / "nowhere.npz"))
