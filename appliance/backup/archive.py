"""Backups: a consistent copy of the database, and the complete archive of the device's data.

`backup_database` is `pychat backup`: SQLite's online backup API, safe while serving.

The archive (`pychat-backup-<UTC time>Z.tar.gz`) is what the admin page downloads and what
scheduled backups write to a USB drive; `appliance.backup.restore` checks and applies one:

    manifest.json   {format, app, version, schema_version, created_at, device_name,
                     org_name, counts: {users, rooms, messages}, files: {name: {size, sha256}}}
    pychat.db       a consistent snapshot (journal_mode=DELETE, integrity checked)
    tls/<file>      the device's CA and certificates, private keys included: a backup is
                    as secret as the device itself

Making one is two steps, both blocking (call them in a thread): `take_snapshot` copies the
database and the small files into a folder of their own under the data folder, so the
archive is of one moment; `ArchiveStream.read()` then yields the tar.gz a chunk at a time,
so the server streams it while it is being compressed (`stream_archive`), never holding
it whole in memory or on disk.

    files/...       uploaded files (`appliance.files.blobs`): blobs named by their SHA-256,
                    their thumbnails and the avatars, hard-linked into the snapshot (they
                    never change once written, so a link is a copy that costs no space)
                    and counted in the manifest's `uploads: {count, bytes}`
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .. import __version__
from ..db_health import damage_of
from ..errors import AppError, InsufficientStorage, disk_full
from ..files.blobs import hash_file
from ..storage import stats
from ..system import durable

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "pychat.db"
# Folders of the data folder that a backup holds, and the files each may hold.
FOLDERS: dict[str, tuple[str, ...]] = {
    "tls": ("ca.crt", "ca.key", "server.crt", "server.key", "custom.crt", "custom.key"),
}
# Uploaded files: `files/ab/<62 hex>` (a blob, its name its SHA-256), and the thumbnails and
# avatars made from blobs. Nothing else under files/ (tmp/ holds unfinished uploads).
UPLOADS = "files"
UPLOAD_NAME = re.compile(
    r"files/(?:(?P<head>[0-9a-f]{2})/(?P<tail>[0-9a-f]{62})|(?:thumbs|avatars)/[0-9a-f]{2}/[0-9a-f]{62}\.webp)"
)
PRIVATE_SUFFIXES = (".key", ".db")  # archived with mode 0600
CHUNK_BYTES = 1 << 20
SPARE_BYTES = 64 << 20  # left free on the device after a snapshot
STALE_SNAPSHOT_S = 86400
_SNAPSHOT_PREFIX = ".backup-"


class DatabaseDamaged(AppError):
    """The database has a damaged page: a copy of it would be damaged too."""

    status, code = 409, "database_damaged"

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"No backup can be made: the database is damaged ({problem[:200]})."
            " Restore the newest good backup (or ask for help to salvage it)."
        )
        self.problem = problem


def _no_space(error: BaseException) -> AppError | None:
    full = disk_full(error)
    if full is None:
        return None
    return InsufficientStorage(
        "There is not enough free space on the device for a backup. Free some space first."
    )


def backup_database(source: Path, out: Path) -> None:
    """A consistent, integrity-checked copy of `source` at `out` (never a partial one).
    Raises DatabaseDamaged or InsufficientStorage (code insufficient_storage) with a
    message that says why no copy was made."""
    if not source.is_file():
        raise AppError(f"No database at {source}.")
    out = out.resolve()
    try:
        with durable.replacing(out, mode=None) as tmp:
            _copy_database(source, tmp)
    except (OSError, sqlite3.Error) as e:
        full = _no_space(e)
        if full is not None:
            raise full from e
        if isinstance(e, sqlite3.DatabaseError) and damage_of(e):
            raise DatabaseDamaged(str(e)) from e
        raise


def _copy_database(source: Path, tmp: Path) -> None:
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(tmp)
        try:
            # One step (pages=-1) copies a single read snapshot: concurrent writes in WAL mode
            # neither block it nor make it restart.
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
            problems = [str(r[0]) for r in dst.execute("PRAGMA integrity_check(10)")]
            if problems != ["ok"]:
                raise DatabaseDamaged("; ".join(problems) or "no answer")
        finally:
            dst.close()
    finally:
        src.close()


def archive_name(now_s: float) -> str:
    return time.strftime("pychat-backup-%Y%m%d-%H%M%SZ.tar.gz", time.gmtime(now_s))


@dataclass(frozen=True)
class Member:
    name: str  # the path inside the archive
    path: Path | None = None  # a file in the snapshot folder ...
    data: bytes = b""  # ... or these bytes (the manifest)
    size: int = 0


@dataclass
class Snapshot:
    """The database and files of one moment, in a folder of their own, and the manifest."""

    directory: Path
    manifest: dict[str, Any]
    members: list[Member] = field(default_factory=list)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _remove_stale_snapshots(data_dir: Path, now_s: float) -> None:
    """Snapshot folders left by a crash (a finished backup removes its own)."""
    for entry in data_dir.glob(_SNAPSHOT_PREFIX + "*"):
        with contextlib.suppress(OSError):
            if entry.is_dir() and now_s - entry.stat().st_mtime > STALE_SNAPSHOT_S:
                shutil.rmtree(entry, ignore_errors=True)


def check_free_space(data_dir: Path, db_path: Path) -> None:
    needed = db_path.stat().st_size + SPARE_BYTES
    if shutil.disk_usage(data_dir).free < needed:
        raise InsufficientStorage(
            f"There is not enough free space on the device for a backup (it needs about"
            f" {needed // 1_000_000} MB). Free some space first."
        )


def take_snapshot(data_dir: Path, db_path: Path, *, now_s: float | None = None) -> Snapshot:
    """Copy the database (online, consistent) and the small files; write the manifest."""
    now_s = time.time() if now_s is None else now_s
    if not db_path.is_file():
        raise AppError(f"No database at {db_path}.")
    _remove_stale_snapshots(data_dir, now_s)
    check_free_space(data_dir, db_path)
    directory = Path(tempfile.mkdtemp(prefix=_SNAPSHOT_PREFIX, dir=data_dir))
    try:
        return _fill_snapshot(directory, data_dir, db_path, now_s)
    except OSError as e:
        shutil.rmtree(directory, ignore_errors=True)
        full = _no_space(e)
        if full is not None:
            raise full from e
        raise
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _fill_snapshot(directory: Path, data_dir: Path, db_path: Path, now_s: float) -> Snapshot:
    database = directory / DATABASE
    backup_database(db_path, database)
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        counts = stats.snapshot_counts(conn)
        schema = stats.snapshot_schema_version(conn)
        shown = stats.snapshot_settings(conn)
    finally:
        conn.close()
    files: list[tuple[str, Path]] = [(DATABASE, database)]
    for folder, names in FOLDERS.items():
        for name in names:
            source = data_dir / folder / name
            if source.is_file() and not source.is_symlink():
                copy = directory / folder / name
                copy.parent.mkdir(mode=0o700, exist_ok=True)
                shutil.copyfile(source, copy)
                files.append((f"{folder}/{name}", copy))
    uploads = _link_uploads(data_dir, directory)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "app": "pychat",
        "version": __version__,
        "schema_version": schema,
        "created_at": int(now_s * 1000),
        "device_name": shown.get("device_name", ""),
        "org_name": shown.get("org_name", ""),
        "counts": counts,
        "files": {
            name: {"size": path.stat().st_size, "sha256": hash_file(path)} for name, path in files
        },
        "uploads": {"count": len(uploads), "bytes": sum(m.size for m in uploads)},
    }
    text = json.dumps(manifest, indent=2, sort_keys=True).encode()
    members = [Member(MANIFEST, data=text, size=len(text))]
    members += [Member(name, path=path, size=path.stat().st_size) for name, path in files]
    return Snapshot(directory, manifest, members + uploads)


def uploaded_files(data_dir: Path) -> list[tuple[str, Path]]:
    """(archive name, path) of every uploaded file worth keeping, in a stable order."""
    root = data_dir / UPLOADS
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*")):
        name = path.relative_to(data_dir).as_posix()
        if UPLOAD_NAME.fullmatch(name) and path.is_file() and not path.is_symlink():
            found.append((name, path))
    return found


def _link_uploads(data_dir: Path, directory: Path) -> list[Member]:
    members = []
    for name, source in uploaded_files(data_dir):
        target = directory / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileNotFoundError:
            continue  # released since the listing: the snapshot's database may still name it
        except OSError:
            shutil.copyfile(source, target)  # a file system without hard links
        members.append(Member(name, path=target, size=target.stat().st_size))
    return members


class ArchiveStream:
    """The tar.gz of a snapshot, produced a chunk at a time by `read()` (b"" at the end).

    Plain ustar/pax members (regular files only, owner 0, no links) compressed by one
    gzip stream: any tar reads it. Blocking: each `read()` reads and compresses up to
    `chunk` bytes of input."""

    def __init__(self, members: list[Member], *, level: int = 6, chunk: int = CHUNK_BYTES):
        self._members = list(members)
        self._chunk = chunk
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: a gzip wrapper
        self._file: BinaryIO | None = None
        self._left = 0
        self._size = 0
        self._done = False
        self._mtime = int(time.time())

    def read(self) -> bytes:
        out: list[bytes] = []
        while not self._done and not any(out):
            if self._file is None:
                out.append(self._next_member())
            else:
                out.append(self._next_data())
        return b"".join(out)

    def _next_member(self) -> bytes:
        if not self._members:
            self._done = True
            return self._z.compress(b"\0" * (2 * tarfile.BLOCKSIZE)) + self._z.flush()
        member = self._members.pop(0)
        info = tarfile.TarInfo(member.name)
        info.size = member.size
        info.mtime = self._mtime
        info.mode = 0o600 if member.name.endswith(PRIVATE_SUFFIXES) else 0o644
        info.type = tarfile.REGTYPE
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        self._file = member.path.open("rb") if member.path else io.BytesIO(member.data)
        self._left = self._size = member.size
        return self._z.compress(header)

    def _next_data(self) -> bytes:
        assert self._file is not None
        data = self._file.read(min(self._chunk, self._left))
        if not data and self._left:
            raise AppError("A file changed while it was being backed up.")
        self._left -= len(data)
        out = self._z.compress(data)
        if self._left == 0:
            self._file.close()
            self._file = None
            out += self._z.compress(b"\0" * (-self._size % tarfile.BLOCKSIZE))
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def stream_archive(snapshot: Snapshot) -> AsyncGenerator[bytes, None]:
    """The archive's chunks, each read and compressed in a thread."""
    archive = ArchiveStream(snapshot.members)
    try:
        while chunk := await asyncio.to_thread(archive.read):
            yield chunk
    finally:
        await asyncio.to_thread(archive.close)


def write_archive(snapshot: Snapshot, out: Path) -> None:
    """The archive as a file, written under a temporary name, synced, then renamed."""
    archive = ArchiveStream(snapshot.members)
    try:
        with durable.replacing(out, mode=None) as partial, partial.open("wb") as f:
            while chunk := archive.read():
                f.write(chunk)
    except BaseException:
        archive.close()
        raise


def make_archive(data_dir: Path, db_path: Path, out: Path, *, now_s: float | None = None) -> Path:
    """A complete backup written to `out` (a file, or a folder to name it in)."""
    snapshot = take_snapshot(data_dir, db_path, now_s=now_s)
    try:
        if out.is_dir():
            out = out / archive_name(snapshot.manifest["created_at"] / 1000)
        write_archive(snapshot, out)
        return out
    finally:
        snapshot.remove()
