"""`make test` runs the suite in two halves (`pytest-all`): a folder of tests left out of
both would never run in CI."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_two_halves_cover_every_folder_of_tests() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\npytest-all:", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"\btests/[a-z0-9_]+", recipe))
    folders = {f"tests/{p.parent.name}" for p in (ROOT / "tests").glob("*/test_*.py")}
    assert folders, "no test folders found"
    assert folders <= named, f"not run by make test: {sorted(folders - named)}"
    assert "pytest-all" in makefile.split("\ntest:", 1)[1].split("\n", 1)[0]
