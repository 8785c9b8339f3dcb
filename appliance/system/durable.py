"""Files that survive a power cut: written whole under a temporary name, then renamed.

The one way this project replaces a file: a fresh temporary file in the same folder
(created O_EXCL and O_NOFOLLOW, with its final mode from the start, so a key is never
readable by others even for a moment), filled, fsynced, renamed over the target (atomic:
readers see the old file or the new one, never half of it), then the folder fsynced so
the rename itself is on the disk. On any error the temporary file is removed and the old
file is left as it was.

FAT (the boot partition, most USB sticks) keeps a file's size and first cluster in its
directory entry, and Linux writes that entry with the file's inode, not the folder's: so
the file is fsynced once more after the rename, else the new name reaches the card only
at writeback, some 30 s later.

Pure standard library and no imports from the appliance: the root helper
(appliance.privileged) and the image's boot scripts use it too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

# None as a mode: 0666 less the umask, as open() gives.
_UMASK_DEFAULT = 0o666
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_file(path: Path, data: bytes, *, mode: int | None) -> None:
    """Replace `path` with `data`, durably. `mode` is exact (the umask neither loosens nor
    tightens it); None: 0666 less the umask. A symlink at `path` is replaced, never
    followed. Raises OSError; the old file is then untouched and no temporary is left."""
    fd, temp = _create_temp(path, mode)
    try:
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked (a full disk, a signal)
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        _rename_into_place(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


@contextlib.contextmanager
def replacing(path: Path, *, mode: int | None) -> Iterator[Path]:
    """A new, empty temporary file beside `path` for the caller to fill (by name: a
    stream, SQLite's backup). On a clean exit it is fsynced and renamed onto `path`; on an
    exception it is removed and `path` keeps its old content."""
    fd, temp = _create_temp(path, mode)
    os.close(fd)
    try:
        yield temp
        sync_file(temp)
        _rename_into_place(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def move(source: Path, target: Path) -> None:
    """Move a finished file onto `target` (same file system), durably: its bytes are
    fsynced first (cheap when its writer already did; a thumbnail made by another process
    was not), then the rename and the target's folder."""
    sync_file(source)
    os.replace(source, target)
    sync_dir(target.parent)


def sync_file(path: Path) -> None:
    """fsync a file by name, never through a symlink."""
    _sync(path, os.O_NOFOLLOW)


def sync_dir(path: Path) -> None:
    """fsync a folder, so that the names created, renamed or removed in it are on disk."""
    _sync(path, os.O_DIRECTORY)


def sync_tree(folder: Path) -> None:
    """fsync every file and folder under `folder`, and `folder`, deepest first: all of it
    is on disk before a marker written next says it is complete. Never through a symlink
    (one to a file raises ELOOP; a restore's check admits none)."""
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            sync_file(Path(root, name))
        sync_dir(Path(root))


def _create_temp(path: Path, mode: int | None) -> tuple[int, Path]:
    # A fresh random name: two writers of one file never share a temporary. The name
    # starts with a dot and ends in .partial, so listings and clean-ups can skip it.
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        try:
            fd = os.open(temp, _CREATE, _UMASK_DEFAULT if mode is None else mode)
        except FileExistsError:
            continue
        break
    if mode is not None:
        try:
            os.fchmod(fd, mode)  # created no looser than `mode`; now exactly `mode`
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
    return fd, temp


def _rename_into_place(temp: Path, path: Path) -> None:
    os.replace(temp, path)
    sync_dir(path.parent)
    sync_file(path)  # FAT: the new directory entry is written with the file's inode


def _sync(path: Path, flags: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
