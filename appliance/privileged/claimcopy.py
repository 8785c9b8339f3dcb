"""Copy the first-boot claim code to the boot partition, as root (pychat-claim-code.service).

The server runs as `pychat` with a read-only view of the system, so it cannot write to
the boot partition itself. A path unit watches `<data>/claim-code.txt`; whenever it
changes, this copies it (or removes the copy once setup has destroyed the code).

The source lives in a directory the service account owns, so it is read with suspicion:
no symlinks, a regular file owned by that account, small, and shaped like a claim code.
Nothing else is ever copied.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from . import claim_format as claim
from .executor import write_atomically

SOURCE = Path("/var/lib/pychat") / claim.FILE_NAME
DEST = Path("/boot/firmware/pychat-claim-code.txt")
_MAX_BYTES = 64
_ATTEMPTS = 3


def sync_claim_code(source: Path, dest: Path, *, owner_uid: int | None) -> str:
    """Make `dest` show the claim code in `source`, or remove it when there is none.

    systemd drops path events that arrive while this runs, so it checks again at the end
    and starts over if the source changed meanwhile."""
    for _ in range(_ATTEMPTS):
        before = _identity(source)
        outcome = _sync_once(source, dest, owner_uid=owner_uid)
        if _identity(source) == before:
            break
    return outcome


def _sync_once(source: Path, dest: Path, *, owner_uid: int | None) -> str:
    code = read_claim_code(source, owner_uid=owner_uid)
    if code is None:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
            return f"removed {dest}"
        return "no claim code"
    text = (
        f"Pychat claim code: {claim.format_code(code)}\n"
        "Type it into the setup page to prove you hold this device.\n"
    )
    write_atomically(dest, text.encode("ascii"), 0o644)
    return f"copied the claim code to {dest}"


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def read_claim_code(path: Path, *, owner_uid: int | None) -> str | None:
    """The code in `path`, None if there is no file; raises ValueError if it looks wrong."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ValueError(f"{path}: cannot open: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path}: not a regular file")
        if owner_uid is not None and info.st_uid != owner_uid:
            raise ValueError(f"{path}: not owned by uid {owner_uid}")
        if info.st_size > _MAX_BYTES:
            raise ValueError(f"{path}: too large for a claim code")
        raw = os.read(fd, _MAX_BYTES + 1)
    finally:
        os.close(fd)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a claim code") from None
    code = claim.normalise(text)
    if text.strip() != claim.format_code(code) or not _is_code(code):
        raise ValueError(f"{path}: not a claim code")
    return code


def _is_code(code: str) -> bool:
    return len(code) == claim.LENGTH and all(c in claim.ALPHABET for c in code)
