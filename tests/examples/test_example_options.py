"""The options every example shares, and how an example behaves on a bare machine.

Oracle: the documented behaviour of examples/_common.py: `--backend` names a
registered backend (an unknown one is refused with the list of available ones), and
without Graphviz's `dot` program an example still finishes, leaving each diagram's
DOT source where the SVG would be.
"""

import pytest
from example_helpers import example

autodiff_basics = example("autodiff_basics")
temperature = example("temperature")


def test_unknown_backend_is_refused_with_the_available_ones(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:  # argparse's way: one line, status 2
        temperature.main(["--backend", "no-such-backend", "--out", str(tmp_path)])
    assert stop.value.code == 2
    assert "numpy" in capsys.readouterr().err.split("available backends: ")[1]


def test_without_graphviz_the_example_writes_dot_sources(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot` to be found
    result = autodiff_basics.main(["--epochs", "2", "--out", str(tmp_path)])
    assert result["fit"]["first_loss"] == 25.0
    for name in ("autodiff_basics_forward", "autodiff_basics_backward", "autodiff_log_mul_sin"):
        assert (tmp_path / f"{name}.dot").read_text().startswith("digraph")
        assert not (tmp_path / f"{name}.svg").exists()
    assert "Graphviz" in capsys.readouterr().err


def test_epochs_and_out_are_honoured(tmp_path):
    out = tmp_path / "nested" / "out"
    result = temperature.main(["--epochs", "3", "--out", str(out)])
    assert result["full"]["step"].cache_info().hits == 2  # 3 epochs: 1 trace + 2 runs
    assert out.is_dir()


@pytest.mark.parametrize("script", ["temperature.py", "mlp_digits.py", "linear_erm.py"])
def test_an_unusable_backend_is_one_line_and_exit_status_2(script, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / script
    proc = subprocess.run([sys.executable, str(path), "--backend", "nosuch", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert f"{script}: error: --backend nosuch: unknown backend 'nosuch'" in proc.stderr
