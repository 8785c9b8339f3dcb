"""What the image installs is the wheel: every data file the server opens must be in it."""

from __future__ import annotations

import fnmatch
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_data_file_of_the_server_is_declared_as_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["appliance"]
    tracked = subprocess.run(
        ["git", "ls-files", "appliance"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    # The web app's sources are built into web/static (declared); Python files are modules.
    data = [
        path.removeprefix("appliance/")
        for path in tracked
        if not path.endswith(".py") and not path.startswith("appliance/web/spa/")
    ]
    missing = [f for f in data if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert missing == [], f"not in the wheel (pyproject.toml package-data): {missing}"
