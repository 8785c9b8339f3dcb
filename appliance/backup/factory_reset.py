"""`pychat factory-reset --data DIR --yes`: back to the first boot (docs/operations.md).

Nothing is deleted: the data folder's contents (the database and its WAL, `tls/`, the
claim code, restore folders, anything else but the settings file) move into
`<DIR>/factory-reset-<UTC time>/`, so a reset by mistake can be undone by moving them
back. On the next start the server finds no setup, makes a new claim code and a new CA,
and the wizard runs again. Blocking; run with the service stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..system import durable
from .restore import database_in_use

KEEP = frozenset({"pychat.toml"})  # settings are not data
PREFIX = "factory-reset-"


class ResetRefused(Exception):
    """Nothing was changed; the message says why."""


def _is_previous_reset(path: Path) -> bool:
    return path.name.startswith(PREFIX) and path.is_dir() and not path.is_symlink()


def factory_reset(data_dir: Path, db_path: Path | None = None) -> tuple[Path, list[str]]:
    """Move the data folder's contents aside; returns the folder they went to and their
    names. Raises ResetRefused when the folder is missing or a server has it open."""
    if not data_dir.is_dir():
        raise ResetRefused(f"{data_dir} is not a folder.")
    db = db_path if db_path is not None else data_dir / "pychat.db"
    if database_in_use(db):
        raise ResetRefused(
            f"a server has {db} open: stop it first (systemctl stop pychat), then run this again."
        )
    entries = sorted(
        p for p in data_dir.iterdir() if p.name not in KEEP and not _is_previous_reset(p)
    )
    if not entries:
        raise ResetRefused(f"{data_dir} holds nothing to reset: it is already as new.")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = data_dir / f"{PREFIX}{stamp}"
    n = 1
    while aside.exists():
        n += 1
        aside = data_dir / f"{PREFIX}{stamp}-{n}"
    aside.mkdir(mode=0o700)
    moved = []
    for entry in entries:
        entry.rename(aside / entry.name)  # same file system: atomic, nothing copied
        moved.append(entry.name)
    durable.sync_dir(aside)
    durable.sync_dir(data_dir)
    return aside, moved


def report(data_dir: Path, aside: Path, moved: list[str]) -> str:
    lines = [f"Factory reset of {data_dir}: moved aside into {aside}:"]
    lines += [f"  {name}" for name in moved]
    lines += [
        "On its next start the server makes a new claim code and the setup wizard runs again.",
        f"Once you are sure nothing there is needed: rm -rf {aside}",
    ]
    return "\n".join(lines)
