"""docs/*.svg are what the code draws now: docs/make_images.py's DOT sources hash to
the checksums it wrote with the images.

Oracle: docs/images.sha256, written by `python docs/make_images.py` together with the
images; rebuilding the DOT sources here must give the same SHA-256 for every image.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).parents[2] / "docs"
sys.path.insert(0, str(DOCS))

import make_images  # noqa: E402


def test_docs_images_are_up_to_date():
    sources = make_images.dot_sources()
    assert {f"{name}.svg" for name in sources} <= {p.name for p in DOCS.glob("*.svg")}
    assert make_images.checksums(sources) == make_images.MANIFEST.read_text(), (
        "docs/ images are stale: run `python docs/make_images.py` and commit the result")
