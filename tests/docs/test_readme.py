"""README's commands and outputs are what running them gives today.

Oracle: running each marked snippet (docs/readme_snippets.py) from a scratch copy of
the repository; outputs must match README exactly, timings aside. Regenerate with
`python docs/readme_snippets.py --write` after a change that alters an output.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_outputs_are_current():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "readme_snippets.py"),
                           "--check"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, ("README is stale; run `python docs/readme_snippets.py "
                                  "--write`:\n" + proc.stdout[-6000:] + proc.stderr[-2000:])


def test_the_checker_notices_a_wrong_output(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "docs"))
    import readme_snippets as rs

    text = "<!-- run: a.py -->\n```python\nprint(6 * 7)\n```\n\n```\n41\n```\n"
    snippets = rs.parse(text)
    outputs = rs.run_all(snippets, tmp_path)
    assert outputs == ["42"]
    assert rs.render(text, snippets, outputs) != text
    timed = "<!-- run: b.py -->\n```python\nprint('took 12 ms')\n```\n\n```\ntook 3 ms\n```\n"
    snippets = rs.parse(timed)
    assert rs._normalized(rs.render(timed, snippets, rs.run_all(snippets, tmp_path))) == \
        rs._normalized(timed)
