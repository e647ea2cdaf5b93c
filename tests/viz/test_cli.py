"""`graphgrad render SCRIPT.py:NAME --input-shape ... -o FILE` draws functions and models.

Oracle: the scripts written here, whose parameters, inputs and phases are known; the
written file is read back (DOT via the test reader, SVG via xml.etree) and must hold
them. Errors are checked for the user-facing message and exit status 1.
"""

import textwrap

import pytest
from viz_helpers import needs_dot, parse_dot, svg_groups

from graphgrad.cli import main as graphgrad_main
from graphgrad.viz.cli import main, parse_spec

SCRIPT = textwrap.dedent('''
    import graphgrad as gg
    from graphgrad.ir import tracing

    W1 = gg.randn(64, 16, requires_grad=True)
    W2 = gg.randn(16, 10, requires_grad=True)

    def step(x, y):
        tracing.name_state(W1, "W1")
        tracing.name_state(W2, "W2")
        loss = -(gg.log_softmax(gg.relu(x @ W1) @ W2, 1) * gg.one_hot(y, 10)).sum(1).mean()
        loss.backward()
        with gg.no_grad(), tracing.phase("update"):
            for p in (W1, W2):
                p.sub_(0.1 * p.grad)
                p.grad = None
        return loss

    class Tiny:
        def __init__(self):
            self.w = gg.randn(8, 4, requires_grad=True)
        def parameters(self):
            return [self.w]
        def named_parameters(self):
            return [("w", self.w)]
        def __call__(self, x):
            return gg.tanh(x @ self.w)

    tiny = Tiny()

    class NeedsArgs(Tiny):
        def __init__(self, width):
            super().__init__()

    @gg.compile
    def compiled_step(x, y):
        return step(x, y)
''')


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(SCRIPT)
    return path


def test_parse_spec():
    assert parse_spec("32,64").shape == (32, 64) and parse_spec("32,64").dtype.name == "float32"
    assert parse_spec("32:int64").dtype.name == "int64" and parse_spec("32:int64").shape == (32,)
    assert parse_spec(":float64").shape == ()


def test_function_to_dot(script, tmp_path, capsys):
    out = tmp_path / "step.dot"
    rc = main([f"{script}:step", "--input-shape", "32,64", "--input-shape", "32:int64",
               "-o", str(out)])
    assert rc == 0 and str(out) in capsys.readouterr().out
    dot = parse_dot(out.read_text())
    labels = " ".join(a["label"] for a in dot.nodes_with_class("gg-node").values())
    assert "<b>W1</b>" in labels and "<b>W2</b>" in labels and "<b>x</b>" in labels
    assert "i64[32]" in labels
    drawn = {**dot.nodes_with_class("gg-node"), **dot.nodes_with_class("gg-summary")}
    phases = {c for a in drawn.values() for c in a["class"].split() if c.startswith("phase-")}
    assert phases == {"phase-forward", "phase-backward", "phase-update"}
    assert len(dot.nodes_with_class("gg-write")) == 2


def test_forward_part_only(script, tmp_path):
    out = tmp_path / "fwd.dot"
    assert main([f"{script}:step", "--input-shape", "32,64", "--input-shape", "32:int64",
                 "--part", "forward", "-o", str(out)]) == 0
    classes = {c for a in parse_dot(out.read_text()).nodes_with_class("gg-node").values()
               for c in a["class"].split()}
    assert "phase-backward" not in classes and "phase-forward" in classes


@needs_dot
@pytest.mark.parametrize("name", ["tiny", "Tiny"])
def test_model_instance_or_class_to_svg(script, tmp_path, name):
    out = tmp_path / "tiny.svg"
    assert graphgrad_main(["render", f"{script}:{name}", "--input-shape", "5,8",
                           "-o", str(out)]) == 0
    groups = svg_groups(out.read_text())
    nodes = [g for g in groups if "gg-node" in g["class"]]
    assert any("phase-backward" in g["class"] for g in nodes)  # out.sum().backward()
    text = out.read_text()
    assert ">w<" in text and ">x<" in text  # the parameter, and the input named by __call__
    assert any("w.grad" in (g["tooltip"] or "") for g in groups if "gg-write" in g["class"])


def test_missing_shapes_and_names_are_explained(script, capsys):
    assert main([f"{script}:step"]) == 1
    assert "--input-shape" in capsys.readouterr().err
    assert main([f"{script}:nope", "--input-shape", "3"]) == 1
    err = capsys.readouterr().err
    assert "no 'nope'" in err and "step" in err and "tiny" in err
    assert main(["model.py", "--input-shape", "3"]) == 1
    assert "SCRIPT.py:FUNCTION_OR_MODEL" in capsys.readouterr().err
    assert main([f"{script}:NeedsArgs", "--input-shape", "3"]) == 1
    assert "cannot create NeedsArgs() without arguments" in capsys.readouterr().err


def test_uncalled_compiled_function_is_traced_and_optimized(script, tmp_path):
    out = tmp_path / "compiled.dot"
    assert main([f"{script}:compiled_step", "--input-shape", "32,64", "--input-shape",
                 "32:int64", "--optimized", "-o", str(out)]) == 0
    dot = parse_dot(out.read_text())
    assert dot.clusters_with_class("gg-fused")  # the default passes ran
    assert any("phase-update" in a["class"] for a in dot.nodes_with_class("gg-node").values())


def test_the_implicit_loss_of_a_model_is_labelled(script, tmp_path):
    out = tmp_path / "tiny.dot"
    assert main([f"{script}:tiny", "--input-shape", "5,8", "-o", str(out)]) == 0
    nodes = parse_dot(out.read_text()).nodes_with_class("gg-node")
    (loss,) = [a for a in nodes.values() if "implicit loss" in a["label"]]
    assert "<b>sum</b>" in loss["label"] and "phase-forward" in loss["class"]
