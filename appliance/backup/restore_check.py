"""Checking a backup archive before anything is restored from it (`appliance.backup.restore`).

The archive is unpacked into a fresh folder, member by member, refusing anything but the
expected regular files: no absolute paths, no `..`, no links or devices, no duplicates, no
more bytes than the free space allows. Then the manifest, each file's size and SHA-256, the
database's integrity, its exact schema for its version (built in memory from the same
migrations; not newer than this Pychat), its counts, and the certificates are checked.
Blocking: call it in a thread from a running loop.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from ..db import migration_scripts
from ..errors import BadRequest
from ..files.blobs import hash_file
from ..storage import stats
from .archive import CHUNK_BYTES, DATABASE, FOLDERS, FORMAT, MANIFEST, UPLOAD_NAME

MAX_MANIFEST_BYTES = 1 << 20
# A pax or GNU long-name header is a few hundred bytes; tarfile would read a larger one
# whole into memory.
MAX_HEADER_BYTES = 64 << 10
_HEADER_TYPES = frozenset(
    {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE}
    | {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK}
)
# Every member a backup may hold, besides uploaded files (backup.UPLOAD_NAME).
ALLOWED_FILES = frozenset(
    {MANIFEST, DATABASE} | {f"{d}/{name}" for d, names in FOLDERS.items() for name in names}
)
ALLOWED_DIRS = frozenset(FOLDERS)
TLS_NEEDED = ("ca.crt", "ca.key", "server.crt", "server.key")


def newest_schema() -> int:
    return migration_scripts()[-1][0]


class RestoreRefused(BadRequest):
    """The archive is not a backup this Pychat can restore; the message says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"This backup cannot be restored: {reason}")


def _check_name(name: str) -> None:
    parts = name.rstrip("/").split("/") if name else [""]
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise RestoreRefused(f"it holds an unsafe path ({name[:200]!r}).")


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses, before reading them, the extension headers tarfile would read whole into
    memory (a pax or GNU long-name header may declare gigabytes), and sparse members."""

    def _proc_member(self, tar: Any) -> Any:
        if self.type in _HEADER_TYPES and self.size > MAX_HEADER_BYTES:
            raise RestoreRefused("it holds an oversized tar header; backups never do.")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise RestoreRefused("it holds a sparse file; backups never do.")
        return super()._proc_member(tar)  # type: ignore[misc]


@dataclass
class _Budget:
    """What the manifest declares, checked before each member is written: no member larger
    than its entry, no more uploaded files or bytes than counted, nothing unlisted."""

    files: dict[str, int]
    uploads: int
    upload_bytes: int

    def total(self) -> int:
        return sum(self.files.values()) + self.upload_bytes

    def take(self, name: str, size: int) -> None:
        if name in self.files:
            if size != self.files.pop(name):
                raise RestoreRefused(f"{name} does not match its manifest (size).")
            return
        if not UPLOAD_NAME.fullmatch(name):
            raise RestoreRefused("its files do not match its manifest.")
        self.uploads -= 1
        self.upload_bytes -= size
        if self.uploads < 0 or self.upload_bytes < 0:
            raise RestoreRefused("its uploaded files do not match its manifest.")


def _budget(path: Path) -> _Budget:
    """The sizes manifest.json declares (the full check of it comes after unpacking)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise RestoreRefused("its manifest is not valid JSON.") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    uploads = manifest.get("uploads", {"count": 0, "bytes": 0}) if files is not None else None
    if not isinstance(files, dict) or not isinstance(uploads, dict):
        raise RestoreRefused("its manifest is incomplete.")
    sizes: dict[str, int] = {}
    for name, entry in files.items():
        size = entry.get("size") if isinstance(entry, dict) else None
        if name not in ALLOWED_FILES or name == MANIFEST or not _count(size):
            raise RestoreRefused("its manifest is incomplete.")
        sizes[name] = size
    count, total = uploads.get("count"), uploads.get("bytes")
    if not _count(count) or not _count(total):
        raise RestoreRefused("its manifest is incomplete.")
    return _Budget(sizes, count, total)


def _count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _copy_member(source: Any, target: Path, size: int) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    left = size
    with os.fdopen(fd, "wb") as out:
        while left:
            chunk = source.read(min(CHUNK_BYTES, left))  # never more than the size allowed
            if not chunk:
                raise RestoreRefused("the file is damaged or incomplete.")
            out.write(chunk)
            left -= len(chunk)


def _next(tar: tarfile.TarFile) -> tarfile.TarInfo | None:
    try:
        return tar.next()
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        raise RestoreRefused("the file is damaged or incomplete.") from None


def _regular(member: tarfile.TarInfo) -> None:
    """Only plain files (directories are handled by the caller); no absolute or `..` path."""
    name = member.name
    _check_name(name)
    if member.issym() or member.islnk():
        raise RestoreRefused(f"it holds a link ({name[:200]!r}); backups never do.")
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        raise RestoreRefused(f"it holds a special file ({name[:200]!r}).")


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, staging: Path) -> None:
    target = staging / member.name
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = tar.extractfile(member)
    assert source is not None
    try:
        _copy_member(source, target, member.size)
    except (tarfile.TarError, EOFError, zlib.error):
        raise RestoreRefused("the file is damaged or incomplete.") from None


def _extract(archive: Path, staging: Path, max_bytes: int) -> set[str]:
    """Unpack the expected regular files into `staging`; refuse anything else.

    The manifest comes first (backups write it first): what it declares bounds every member
    after it, and its total must fit in `max_bytes`, so an archive that would expand beyond
    either is refused before the bytes are written, not after."""
    try:
        tar = tarfile.open(archive, mode="r:gz", tarinfo=_BoundedTarInfo)  # noqa: SIM115
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        raise RestoreRefused("it is not a Pychat backup (a .tar.gz file).") from None
    found: set[str] = set()
    budget: _Budget | None = None
    members, limit = 0, 1  # the manifest; then the manifest and what it lists
    with tar:
        while (member := _next(tar)) is not None:
            members += 1
            if members > limit + len(ALLOWED_DIRS):
                raise RestoreRefused("it holds more files than its manifest lists.")
            name = member.name
            _check_name(name)
            if member.isdir() and name.rstrip("/") in ALLOWED_DIRS:
                continue
            _regular(member)
            if name not in ALLOWED_FILES and not UPLOAD_NAME.fullmatch(name):
                raise RestoreRefused(f"it holds an unexpected file ({name[:200]!r}).")
            if name in found:
                raise RestoreRefused(f"it holds {name!r} twice.")
            if not found:
                if name != MANIFEST:
                    raise RestoreRefused(
                        "the file is damaged or incomplete, or not a Pychat backup"
                        " (it does not begin with its manifest.json)."
                    )
                if member.size > MAX_MANIFEST_BYTES:
                    raise RestoreRefused("its manifest is too large.")
            else:
                if budget is None:
                    budget = _budget(staging / MANIFEST)
                    limit = 1 + len(budget.files) + budget.uploads
                    if budget.total() > max_bytes:
                        raise RestoreRefused(
                            "it is larger than the free space on the device allows."
                        )
                budget.take(name, member.size)
            _write(tar, member, staging)
            found.add(name)
    return found


def _read_manifest(staging: Path, found: set[str]) -> dict[str, Any]:
    if MANIFEST not in found or DATABASE not in found:
        raise RestoreRefused("it has no manifest.json or no pychat.db.")
    path = staging / MANIFEST
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise RestoreRefused("its manifest is too large.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise RestoreRefused("its manifest is not valid JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("app") != "pychat":
        raise RestoreRefused("its manifest is not a Pychat manifest.")
    if manifest.get("format") != FORMAT:
        raise RestoreRefused(f"it is in backup format {manifest.get('format')!r}, not {FORMAT}.")
    schema = manifest.get("schema_version")
    counts = manifest.get("counts")
    files = manifest.get("files")
    if (
        not isinstance(schema, int)
        or not isinstance(manifest.get("created_at"), int)
        or not isinstance(counts, dict)
        or set(counts) != set(stats.COUNTED)
        or not isinstance(files, dict)
    ):
        raise RestoreRefused("its manifest is incomplete.")
    if schema > newest_schema():
        raise RestoreRefused(
            f"it comes from a newer Pychat (database version {schema}; this one knows up to"
            f" {newest_schema()}). Update Pychat first."
        )
    uploads = sorted(n for n in found if UPLOAD_NAME.fullmatch(n))
    if set(files) != found - {MANIFEST} - set(uploads):
        raise RestoreRefused("its files do not match its manifest.")
    _check_uploads(staging, uploads, manifest.get("uploads", {"count": 0, "bytes": 0}))
    for name in sorted(set(files)):
        entry = files[name]
        size = (staging / name).stat().st_size
        if not isinstance(entry, dict) or entry.get("size") != size:
            raise RestoreRefused(f"{name} does not match its manifest (size).")
        if entry.get("sha256") != hash_file(staging / name):
            raise RestoreRefused(f"{name} does not match its manifest (checksum).")
    return manifest


def _check_uploads(staging: Path, names: list[str], expected: Any) -> None:
    """Uploaded files: as many as the manifest says, and every blob's bytes match its name."""
    total = sum((staging / n).stat().st_size for n in names)
    if expected != {"count": len(names), "bytes": total}:
        raise RestoreRefused("its uploaded files do not match its manifest.")
    for name in names:
        match = UPLOAD_NAME.fullmatch(name)
        assert match is not None
        if match["head"] and hash_file(staging / name) != match["head"] + match["tail"]:
            raise RestoreRefused(f"{name} is damaged (its checksum does not match its name).")


def _reference_schema(version: int) -> set[tuple[str, str, str, str]]:
    """The schema that migrations 1..version make, built in memory."""
    conn = sqlite3.connect(":memory:")
    try:
        for number, sql in migration_scripts():
            if number <= version:
                conn.executescript(sql)
        return stats.snapshot_schema(conn)
    finally:
        conn.close()


def _check_database(path: Path, manifest: dict[str, Any]) -> dict[str, str]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        raise RestoreRefused("its database cannot be opened.") from None
    try:
        integrity = stats.snapshot_integrity(conn)
        if integrity != "ok":
            raise RestoreRefused(f"its database is damaged ({integrity[:200]}).")
        version = stats.snapshot_schema_version(conn)
        if version != manifest["schema_version"] or version < 1:
            raise RestoreRefused("its database version does not match its manifest.")
        schema = {o for o in stats.snapshot_schema(conn) if not o[1].startswith("sqlite_stat")}
        if schema != _reference_schema(version):
            raise RestoreRefused(f"its database is not a Pychat database of version {version}.")
        if stats.snapshot_counts(conn) != manifest["counts"]:
            raise RestoreRefused("its database does not hold what its manifest counts.")
        settings = stats.snapshot_settings(conn)
    except sqlite3.DatabaseError:
        raise RestoreRefused("its database is damaged.") from None
    finally:
        conn.close()
    if settings.get("setup_done") != "1":
        raise RestoreRefused("it is of a Pychat that was never set up.")
    return settings


def _check_tls(staging: Path, found: set[str]) -> str | None:
    """The CA fingerprint of the backup's certificates; None when it has none."""
    # Here, not at the top: the server imports this module at start, cryptography's x509
    # only when a restore is checked.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from ..tls.issue import fingerprint

    names = {n.split("/", 1)[1] for n in found if n.startswith("tls/")}
    if not names:
        return None
    missing = [n for n in TLS_NEEDED if n not in names]
    if missing:
        raise RestoreRefused(f"its certificates are incomplete (no tls/{missing[0]}).")
    try:
        ca = x509.load_pem_x509_certificate((staging / "tls" / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key(
            (staging / "tls" / "ca.key").read_bytes(), password=None
        )
    except (ValueError, TypeError):
        raise RestoreRefused("its CA certificate or key cannot be read.") from None
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*raw) != ca.public_key().public_bytes(*raw):
        raise RestoreRefused("its CA key does not belong to its CA certificate.")
    return fingerprint(ca)


def check_archive(archive: Path, staging: Path, *, max_bytes: int) -> dict[str, Any]:
    """Unpack and check `archive` into the empty folder `staging`: the restore report."""
    found = _extract(archive, staging, max_bytes)
    manifest = _read_manifest(staging, found)
    settings = _check_database(staging / DATABASE, manifest)
    ca_fingerprint = _check_tls(staging, found)
    schema = manifest["schema_version"]
    warnings = []
    if schema < newest_schema():
        warnings.append(
            f"The backup is from an older Pychat (database version {schema}); it is"
            f" upgraded to version {newest_schema()} when it is applied."
        )
    if ca_fingerprint is None:
        warnings.append("The backup holds no certificates: the device keeps its own.")
    return {
        "backup": {
            "version": str(manifest.get("version", "")),
            "schema_version": schema,
            "created_at": manifest["created_at"],
            "device_name": settings.get("device_name", ""),
            "org_name": settings.get("org_name", ""),
            "counts": manifest["counts"],
        },
        "includes": {"database": True, "tls": ca_fingerprint is not None},
        "ca_fingerprint": ca_fingerprint,
        "size": archive.stat().st_size,
        "warnings": warnings,
    }
