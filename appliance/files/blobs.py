"""Where file bytes live: `<data>/files/ab/cdef...`, named only by their SHA-256.

No name a user chose ever becomes a path: every path here is built from a hash this module
checked to be 64 hex digits. Uploads arrive in `files/tmp/` (same file system, so moving
one into place is an atomic rename) and are fsynced before the database points at them.
All file work runs in threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import time
from pathlib import Path

from ..system import durable

HASH = re.compile(r"[0-9a-f]{64}")
WRITE_BATCH = 1 << 20  # bytes gathered before one trip to the writing thread


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.temp_dir = root / "tmp"
        self.thumb_dir = root / "thumbs"
        self.avatar_dir = root / "avatars"

    @staticmethod
    def _split(content_hash: str) -> tuple[str, str]:
        if not HASH.fullmatch(content_hash):
            raise ValueError("not a content hash")
        return content_hash[:2], content_hash[2:]

    def blob_path(self, content_hash: str) -> Path:
        head, tail = self._split(content_hash)
        return self.root / head / tail

    def thumb_path(self, content_hash: str) -> Path:
        head, tail = self._split(content_hash)
        return self.thumb_dir / head / f"{tail}.webp"

    def avatar_path(self, content_hash: str) -> Path:
        head, tail = self._split(content_hash)
        return self.avatar_dir / head / f"{tail}.webp"

    def temp_path(self) -> Path:
        return self.temp_dir / secrets.token_hex(16)

    # -- blocking helpers: call them through asyncio.to_thread ---------------------------

    def prepare(self, older_than_s: float = 0.0) -> None:
        """Make the folders and drop half-received files a crash or power cut left: all of
        them on one device; on a folder that nodes share, only those nobody has written to
        for `older_than_s` (the others may be uploads under way on another node)."""
        for folder in (self.root, self.temp_dir, self.thumb_dir, self.avatar_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.drop_temp_files(older_than_s)

    def drop_temp_files(self, older_than_s: float) -> None:
        cutoff = time.time() - older_than_s
        for leftover in self.temp_dir.iterdir():
            with contextlib.suppress(OSError):
                if older_than_s <= 0 or leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    def stored(self, older_than_s: float) -> list[tuple[str, Path]]:
        """(hash, path) of every blob, thumbnail and avatar file not written to lately."""
        cutoff = time.time() - older_than_s
        found = []
        for folder, suffix in (
            (self.root, ""),
            (self.thumb_dir, ".webp"),
            (self.avatar_dir, ".webp"),
        ):
            for path in folder.glob("??/*"):
                content_hash = path.parent.name + path.name.removesuffix(suffix)
                if HASH.fullmatch(content_hash) and path.stat().st_mtime < cutoff:
                    found.append((content_hash, path))
        return found

    def temp_files(self) -> list[Path]:
        return sorted(self.temp_dir.iterdir()) if self.temp_dir.is_dir() else []

    def disk_free(self) -> int:
        return shutil.disk_usage(self.root).free

    @staticmethod
    def place(source: Path, target: Path) -> None:
        """Move a finished temp file to its hash-named home (already there: keep that one)."""
        if target.exists():
            return
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        durable.move(source, target)

    @staticmethod
    def remove(*paths: Path) -> None:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(WRITE_BATCH):
            digest.update(chunk)
    return digest.hexdigest()


class TempFile:
    """A file being received: written and hashed in a thread, 1 MiB at a time.

    Memory stays at about one batch whatever the file's size. `discard()` is safe to call
    at any point, also after `finish()` or twice.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.digest = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._file = path.open("xb")  # only called from a thread, see open_temp()

    async def write(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        self.size += len(chunk)
        if self._pending_bytes >= WRITE_BATCH:
            await self._flush()

    async def _flush(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        await asyncio.to_thread(self._write_and_hash, data)

    def _write_and_hash(self, data: bytes) -> None:
        self.digest.update(data)  # hashlib lets go of the GIL for big buffers
        self._file.write(data)

    async def finish(self) -> str:
        """Flush, fsync and close; the SHA-256 of what was received."""
        await self._flush()
        await asyncio.to_thread(self._close, True)
        return self.digest.hexdigest()

    def _close(self, sync: bool) -> None:
        if self._file.closed:
            return
        if sync:
            self._file.flush()
            os.fsync(self._file.fileno())
        self._file.close()

    async def discard(self) -> None:
        def drop() -> None:
            self._close(False)
            BlobStore.remove(self.path)

        await asyncio.to_thread(drop)


async def open_temp(store: BlobStore) -> TempFile:
    return await asyncio.to_thread(TempFile, store.temp_path())
