"""gg.save / gg.load: round trips, and refusing damaged or pickled files.

Oracles: identity (a loaded state dict restores bit-identical outputs and values);
NumPy's own reader (the file is a plain .npz whose arrays carry the state-dict names);
and files built by hand to be truncated, pickled, or to hold object arrays, which
must raise SerializationError rather than load or unpickle anything.
"""

import io
import pickle

import numpy as np
import pytest
import torch

import graphgrad as gg
from graphgrad import nn, optim


def model():
    return nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 3))


def test_state_dict_round_trip_reproduces_outputs(tmp_path):
    gg.manual_seed(0)
    a = model()
    a(gg.randn(8, 4))  # move the BatchNorm running statistics off their initial values
    a.eval()
    path = tmp_path / "model.gg"
    gg.save(a.state_dict(), path)
    assert path.exists() and not list(tmp_path.glob("*.tmp*"))
    loaded = gg.load(path)
    assert list(loaded) == list(a.state_dict())
    assert loaded["1.num_batches_tracked"].dtype == gg.int64
    gg.manual_seed(1)
    b = model().eval()
    b.load_state_dict(loaded)
    x = gg.randn(6, 4)
    np.testing.assert_array_equal(b(x).numpy(), a(x).numpy())


def test_the_file_is_a_plain_npz_with_named_arrays(tmp_path):
    m = nn.Linear(2, 3)
    gg.save(m.state_dict(), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["weight"], m.weight.numpy())
        assert npz["bias"].dtype == np.float32


def test_optimizer_state_and_nested_values_round_trip():
    p = gg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    buf = io.BytesIO()
    obj = {"opt": opt.state_dict(), "epoch": 3, "tag": "run-1", "hist": [0.5, None, (1, 2)],
           "arr": np.arange(3)}
    gg.save(obj, buf)
    buf.seek(0)
    back = gg.load(buf)
    assert back["epoch"] == 3 and back["tag"] == "run-1" and back["hist"] == [0.5, None, (1, 2)]
    assert isinstance(back["arr"], np.ndarray) and back["arr"].tolist() == [0, 1, 2]
    state = back["opt"]["state"][0]
    assert set(state) == {"step", "exp_avg", "exp_avg_sq"} and state["step"].item() == 1.0
    assert back["opt"]["param_groups"][0]["betas"] == (0.9, 0.999)
    q = gg.tensor([1.0, 2.0], requires_grad=True)
    opt2 = optim.Adam([q], lr=0.5)
    opt2.load_state_dict(back["opt"])
    np.testing.assert_array_equal(opt2.state[q]["exp_avg"].numpy(),
                                  opt.state[p]["exp_avg"].numpy())
    assert opt2.param_groups[0]["lr"] == 0.1


def test_unsupported_values_are_refused_at_save_time():
    with pytest.raises(gg.SerializationError, match="got object at x"):
        gg.save({"x": object()}, io.BytesIO())
    with pytest.raises(gg.SerializationError, match="dtype object"):
        gg.save({"x": np.array([{}], dtype=object)}, io.BytesIO())


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "m.gg"
    gg.save(nn.Linear(3, 3).state_dict(), path)
    raw = path.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 10, 0):
        path.write_bytes(raw[:cut])
        with pytest.raises(gg.SerializationError, match="damaged|truncated|not a graphgrad"):
            gg.load(path)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, weight=np.array([{"run": "code"}], dtype=object))
    with pytest.raises(gg.SerializationError, match="unpickle"):
        gg.load(path)
    pickled = tmp_path / "state.pkl"
    pickled.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    with pytest.raises(gg.SerializationError, match="unpickle"):
        gg.load(pickled)


def test_foreign_npz_and_missing_files(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(gg.SerializationError, match="not a graphgrad state file"):
        gg.load(tmp_path / "plain.npz")
    np.save(tmp_path / "one.npy", np.zeros(2))
    with pytest.raises(gg.SerializationError, match="single .npy array"):
        gg.load(tmp_path / "one.npy")
    with pytest.raises(FileNotFoundError):
        gg.load(tmp_path / "nope.gg")


def test_requires_grad_and_shared_tensors_survive_a_round_trip_as_torch(tmp_path):
    """Findings: requires_grad was lost, and a tensor saved twice came back as two."""
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = gg.ones(2)
    gg.save({"a": x, "b": x, "c": y, "l": [y]}, tmp_path / "s.gg")
    d = gg.load(tmp_path / "s.gg")
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    torch.save({"a": tx, "b": tx}, tmp_path / "s.pt")
    t = torch.load(tmp_path / "s.pt")
    assert d["a"].requires_grad == t["a"].requires_grad
    assert (d["a"] is d["b"]) == (t["a"] is t["b"]) and d["c"] is d["l"][0]
    assert not d["c"].requires_grad
