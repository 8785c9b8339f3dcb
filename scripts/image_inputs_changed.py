#!/usr/bin/env python3
"""Whether what goes into the Raspberry Pi image changed since REV (.ci/run's question).

Usage: scripts/image_inputs_changed.py REV. Prints why and exits 0 when it changed, exits 3
when it did not; any other status (a crash) must be taken as changed, so that a broken
check runs the boot test rather than skipping it.

`scripts/image_inputs_changed.py --digest [REV]` prints a SHA-256 of REV's (HEAD's) image
inputs, as counted here: `.ci/image-boot-tested` keeps the one last boot-tested, for a
clone that has no `landed/*` tag to compare with.

Two inputs are shared with things the image never holds, so only their image part counts:
- pyproject.toml without the test and cluster extras and the settings of tools that build
  nothing (ruff, mypy, pytest, import-linter). The image installs the dependencies, the
  version and node from the web extra; setuptools' settings count, as they say what the
  package holds;
- scripts/debian-packages without the test and fresh-check package lists (and comments).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tomllib
from typing import Any

WHOLE = [
    "image", "systemd", "appliance/privileged", "appliance/setup_wizard",
    "appliance/web/spa/package.json", "appliance/web/spa/package-lock.json",
]  # fmt: skip
UNCHANGED = 3  # not 1, which is also how Python exits on an uncaught exception
NOT_IN_IMAGE_EXTRAS = ("test", "cluster")
NOT_BUILDING_TOOLS = ("ruff", "mypy", "pytest", "importlinter")
NOT_IN_IMAGE_PACKAGES = ("test", "fresh")
_ARRAY = re.compile(r"^(\w+)=\(([^)]*)\)", re.MULTILINE)


def _show(rev: str, path: str) -> str | None:
    done = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def _pyproject_image_part(text: str | None) -> Any:
    if text is None:
        return None
    data = tomllib.loads(text)
    tools = data.get("tool", {})
    for name in NOT_BUILDING_TOOLS:
        tools.pop(name, None)
    extras = data.get("project", {}).get("optional-dependencies", {})
    for name in NOT_IN_IMAGE_EXTRAS:
        extras.pop(name, None)
    return data


def _packages_image_part(text: str | None) -> Any:
    if text is None:
        return None
    arrays = {name: body.split() for name, body in _ARRAY.findall(text)}
    rest = [line for line in _ARRAY.sub("", text).splitlines() if not line.startswith("#")]
    return {k: v for k, v in arrays.items() if k not in NOT_IN_IMAGE_PACKAGES}, rest


def changed(rev: str) -> str | None:
    diff = subprocess.run(["git", "diff", "--quiet", rev, "HEAD", "--", *WHOLE])
    if diff.returncode != 0:
        return "image files changed"
    for path, part in (
        ("pyproject.toml", _pyproject_image_part),
        ("scripts/debian-packages", _packages_image_part),
    ):
        if part(_show(rev, path)) != part(_show("HEAD", path)):
            return f"the image's part of {path} changed"
    return None


def digest(rev: str) -> str:
    """A SHA-256 of `rev`'s image inputs: the whole files' blobs, and the image's part of
    the shared ones."""
    listed = subprocess.run(
        ["git", "ls-tree", "-r", rev, "--", *WHOLE], capture_output=True, text=True, check=True
    ).stdout
    parts = [
        _pyproject_image_part(_show(rev, "pyproject.toml")),
        _packages_image_part(_show(rev, "scripts/debian-packages")),
    ]
    shared = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256((listed + "\0" + shared).encode()).hexdigest()


if __name__ == "__main__":
    if sys.argv[1] == "--digest":
        print(digest(sys.argv[2] if len(sys.argv) > 2 else "HEAD"))
        sys.exit(0)
    reason = changed(sys.argv[1])
    if reason:
        print(reason)
    sys.exit(0 if reason else UNCHANGED)
