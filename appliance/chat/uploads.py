"""Upload actions: receive a file (streamed), attach it to a message, serve it, release it.

A file is written to a temp file while it arrives, hashed on the way, checked against the
size limit, the quotas and the disk reserve as it grows, examined (images are cleaned and
thumbnailed in a thread), then recorded and moved into place in one database write. Any
failure or a client that goes away part-way leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..access import access_upload
from ..db import Tx
from ..engine import Row
from ..errors import BadRequest, NotFound
from ..files import images, kinds, remux
from ..files.blobs import BlobStore, TempFile, hash_file, open_temp
from ..files.quota import Usage, check_room, check_size
from ..storage import uploads
from ..storage.uploads import AVATAR_LOCKS, BLOB_LOCKS

if TYPE_CHECKING:
    from ..state.services import Services

log = logging.getLogger(__name__)
MAX_ATTACHMENTS = 10
MAX_DURATION_MS = 24 * 3600 * 1000
RECHECK_EVERY = 64 << 20  # bytes received between two looks at quotas and free disk
SWEEP_BATCH = 500
ORPHAN_AGE_S = 3600.0
ORPHANS_PER_WRITE = 100
# More strays than this, and more than half the files, is a database that lost track.
MAX_SURE_ORPHANS = 10


def blob_store(svc: Services) -> BlobStore:
    return BlobStore(svc.settings.data_dir / "files")


async def _usage(svc: Services, db: Any, user_id: int) -> Usage:
    store = blob_store(svc)
    return Usage(
        user_bytes=await uploads.bytes_of_user(db, user_id),
        stored_bytes=await uploads.bytes_stored(db),
        disk_free=await asyncio.to_thread(store.disk_free),
    )


@dataclass
class _Received:
    """What will be stored: the bytes (the upload or its cleaned copy) and the facts."""

    source: Path
    hash: str
    size: int
    mime: str
    facts: images.ImageFacts | None
    media: remux.MediaFacts | None = None  # a recording, remuxed to play everywhere


def _examine(store: BlobStore, temp: Path, digest: str, declared: str, name: str) -> _Received:
    with temp.open("rb") as f:
        head = f.read(64)
    size = temp.stat().st_size
    facts = images.examine(temp, store.temp_dir) if kinds.image_format(head) else None
    if facts is None:
        mime = kinds.sniff(head, declared, name)
        media = remux.examine(temp, store.temp_dir, mime)
        if media is None:
            return _Received(temp, digest, size, mime, None)
        made = media.remuxed
        return _Received(made, hash_file(made), made.stat().st_size, media.mime, None, media)
    if facts.cleaned is None:
        return _Received(temp, digest, size, facts.mime, facts)
    return _Received(
        facts.cleaned, hash_file(facts.cleaned), facts.cleaned.stat().st_size, facts.mime, facts
    )


async def receive(
    svc: Services,
    owner: int,
    chunks: AsyncIterator[bytes],
    *,
    name: str | None,
    declared_type: str,
    duration_ms: int | None,
    announced_bytes: int | None,
) -> dict[str, Any]:
    """Store one uploaded file; the `upload` object once it is durable."""
    limits = svc.settings.uploads
    if duration_ms is not None and not 0 <= duration_ms <= MAX_DURATION_MS:
        raise BadRequest(f"duration_ms must be from 0 to {MAX_DURATION_MS}.")
    clean_name = kinds.safe_name(name)
    store = blob_store(svc)
    if announced_bytes:
        # Refuse early what is certain to fail, before a byte is written.
        check_room(
            limits,
            await _usage(svc, svc.db, owner),
            user_adding=announced_bytes,
            stored_adding=announced_bytes,
            disk_adding=announced_bytes,
        )
    temp = await open_temp(store)
    extra: list[Path] = []
    try:
        next_check = RECHECK_EVERY
        async for chunk in chunks:
            check_size(limits, temp.size + len(chunk))
            await temp.write(chunk)
            if temp.size >= next_check:
                next_check += RECHECK_EVERY
                usage = await _usage(svc, svc.db, owner)
                check_room(
                    limits, usage, user_adding=temp.size, stored_adding=temp.size, disk_adding=0
                )
        digest = await temp.finish()
        got = await asyncio.to_thread(_examine, store, temp.path, digest, declared_type, clean_name)
        if got.facts is not None:
            extra += [p for p in (got.facts.cleaned, got.facts.thumb) if p is not None]
        if got.media is not None:
            extra.append(got.media.remuxed)
            # The media's own length, not the recorder's stop time.
            clean_name, duration_ms = remux.stored_name(clean_name), got.media.duration_ms
        return await _record(svc, store, owner, clean_name, duration_ms, got)
    finally:
        await _discard(temp, extra)


async def _discard(temp: TempFile, extra: list[Path]) -> None:
    # Shielded: a client that hangs up cancels the handler, and the temp files must go.
    await asyncio.shield(temp.discard())
    if extra:
        await asyncio.shield(asyncio.to_thread(BlobStore.remove, *extra))


async def _record(
    svc: Services,
    store: BlobStore,
    owner: int,
    name: str,
    duration_ms: int | None,
    got: _Received,
) -> dict[str, Any]:
    facts = got.facts
    thumb = facts.thumb if facts is not None else None
    new = uploads.NewUpload(
        owner_id=owner,
        hash=got.hash,
        name=name,
        size=got.size,
        mime=got.mime,
        width=facts.width if facts else None,
        height=facts.height if facts else None,
        duration_ms=duration_ms,
        animated=facts.animated if facts else False,
        has_thumb=thumb is not None,
    )
    now = svc.now_ms()
    limits = svc.settings.uploads
    disk_free = await asyncio.to_thread(store.disk_free)

    async def job(tx: Tx) -> dict[str, Any]:
        await uploads.lock_blob(tx, got.hash)  # another node's removal of it waits, or we do
        # The exact check, in order with every other upload and delete.
        stored = 0 if await uploads.blob_exists(tx, got.hash) else got.size
        usage = Usage(
            await uploads.bytes_of_user(tx, owner), await uploads.bytes_stored(tx), disk_free
        )
        check_room(limits, usage, user_adding=got.size, stored_adding=stored, disk_adding=0)
        row, created = await uploads.insert(tx, new, now)
        if created:
            # Inside the write: a delete of the same blob cannot run in between.
            await asyncio.to_thread(_place, store, got, thumb)
        return uploads.to_api(row)

    return await svc.db.write(job)


def _place(store: BlobStore, got: _Received, thumb: Path | None) -> None:
    if thumb is not None:
        store.place(thumb, store.thumb_path(got.hash))
    store.place(got.source, store.blob_path(got.hash))


# -- messages ---------------------------------------------------------------------------------


def check_attachments(upload_ids: list[int]) -> list[int]:
    if len(upload_ids) > MAX_ATTACHMENTS:
        raise BadRequest(f"A message may carry at most {MAX_ATTACHMENTS} files.")
    if len(set(upload_ids)) != len(upload_ids):
        raise BadRequest("The same file is attached twice.")
    return upload_ids


async def attach(tx: Tx, message_id: int, author: int, upload_ids: list[int]) -> None:
    """Inside the send's write: the author's own uploads, not yet on another message."""
    missing = await uploads.attach(tx, message_id, author, upload_ids)
    if missing:
        raise NotFound(
            f"No such upload: {missing[0]} (it may be someone else's, already sent,"
            " or removed after a day unsent)."
        )


async def files_of(svc: Services, message_id: int) -> list[dict[str, Any]]:
    found = await uploads.for_messages(svc.db, [message_id])
    return [uploads.to_api(row) for row in found.get(message_id, [])]


async def release_message_files(svc: Services, tx: Tx, message_id: int) -> None:
    """A deleted message lets go of its files; blobs nothing else uses are removed (their
    thumbnails too) once the deletion has committed."""
    hashes = await uploads.delete_for_message(tx, message_id)
    await _release(svc, blob_store(svc), tx, hashes)


async def _release(svc: Services, store: BlobStore, tx: Tx, hashes: list[str]) -> None:
    gone = await uploads.drop_unused_blobs(tx, hashes)
    if not gone:
        return

    async def remove() -> None:
        # After the commit, before the next write: a commit that fails (a full disk) must
        # leave the message and its files whole. A blob an upload later in the same batch
        # brought back (same bytes) is in use again and stays.
        kept = [h for h, _ in gone if await uploads.blob_exists(svc.db, h)]
        paths = [store.blob_path(h) for h, _ in gone if h not in kept]
        paths += [store.thumb_path(h) for h, has_thumb in gone if has_thumb and h not in kept]
        if paths:
            await asyncio.to_thread(BlobStore.remove, *paths)

    async def remove_in_turn(tx: Tx) -> None:
        # On PostgreSQL another node may upload the same bytes at any moment: each file
        # goes only under its blob's lock, and only if no upload has brought it back.
        paths = []
        for h, has_thumb in sorted(gone):
            await uploads.lock_blob(tx, h)
            if not await uploads.blob_exists(tx, h):
                paths += [store.blob_path(h), *([store.thumb_path(h)] if has_thumb else [])]
        if paths:
            await asyncio.to_thread(BlobStore.remove, *paths)

    tx.on_commit(remove if tx.dialect == "sqlite" else in_a_later_write(svc, remove_in_turn))


_removals: set[asyncio.Task[None]] = set()


def in_a_later_write(
    svc: Services, job: Callable[[Tx], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    """What runs after a commit on PostgreSQL to remove files: `job` as a write of its own,
    later (after-commit work runs inside the writer: waiting for it there would wait for
    itself). If the server stops first, the files stay for the orphan sweep of a start."""

    async def after_commit() -> None:
        task = asyncio.get_running_loop().create_task(svc.db.write(job))
        _removals.add(task)
        task.add_done_callback(_removed)

    return after_commit


def _removed(task: asyncio.Task[None]) -> None:
    _removals.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("removing files no upload uses failed", exc_info=task.exception())


async def sweep_unattached(svc: Services) -> int:
    """Remove uploads never sent within `uploads.unattached_ttl_s`; how many went."""
    store = blob_store(svc)
    await svc.clock_steps.settle()  # a clock step must not make fresh uploads look old
    cutoff = svc.now_ms() - svc.settings.uploads.unattached_ttl_s * 1000
    removed = 0
    while True:

        async def job(tx: Tx) -> int:
            hashes = await uploads.delete_unattached_before(tx, cutoff, SWEEP_BATCH)
            await _release(svc, store, tx, hashes)
            return len(hashes)

        count = await svc.db.write(job)
        removed += count
        if count < SWEEP_BATCH:
            return removed


async def remove_orphans(svc: Services, older_than_s: float = ORPHAN_AGE_S) -> int:
    """Files no row points at (a power cut between the move into place and the commit).

    Only files untouched for an hour: a file being placed now is seconds old, so a
    concurrent upload is never mistaken for an orphan. Only with a database known to be
    good, and never most of the files: a database that does not account for them (damaged,
    or not this device's) would otherwise have them all deleted.
    """
    if (await svc.db.integrity_settled()).status != "ok":
        log.warning("stray stored files are kept: the database is not known to be good")
        return 0
    store = blob_store(svc)
    on_disk = await asyncio.to_thread(store.stored, older_than_s)
    blobs, avatars = await uploads.known_hashes(svc.db)
    orphans = [
        (content_hash, path)
        for content_hash, path in on_disk
        if content_hash not in (avatars if path.parent.parent == store.avatar_dir else blobs)
    ]
    if len(orphans) * 2 > len(on_disk) and len(orphans) > MAX_SURE_ORPHANS:
        log.error(
            "%d of %d stored files are unknown to the database: kept (is it this device's?)",
            len(orphans),
            len(on_disk),
        )
        return 0
    if orphans and _shared_folder(svc):
        # Another node may be uploading the same bytes now (keeping the old file): each
        # goes only under its lock, if still unknown then; a few at a time, so the writer
        # and PostgreSQL's lock table are never held by the sweep for long.
        removed: list[tuple[str, Path]] = []
        for start in range(0, len(orphans), ORPHANS_PER_WRITE):
            chunk = orphans[start : start + ORPHANS_PER_WRITE]  # each sorted in its write
            removed += await svc.db.write(functools.partial(_remove_unknown, store, chunk))
        orphans = removed
    elif orphans:
        await asyncio.to_thread(BlobStore.remove, *(path for _, path in orphans))
    if orphans:
        log.warning("removed %d stored files nothing referred to", len(orphans))
    return len(orphans)


async def _remove_unknown(
    store: BlobStore, candidates: list[tuple[str, Path]], tx: Tx
) -> list[tuple[str, Path]]:
    removed = []
    for content_hash, path in sorted(candidates):
        avatar = path.parent.parent == store.avatar_dir
        await uploads.lock_blob(tx, content_hash, AVATAR_LOCKS if avatar else BLOB_LOCKS)
        known = (uploads.avatar_in_use if avatar else uploads.blob_exists)(tx, content_hash)
        if not await known:
            await asyncio.to_thread(BlobStore.remove, path)
            removed.append((content_hash, path))
    return removed


# -- serving ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    path: Path
    etag: str
    mime: str
    name: str


async def served_file(svc: Services, viewer: int, upload_id: int, *, thumb: bool) -> Served:
    """The file behind an upload URL, if `viewer` may see it (404 otherwise)."""
    row: Row = await access_upload(svc.db, viewer, upload_id)
    store = blob_store(svc)
    content_hash = str(row["hash"])
    if not thumb:
        return Served(store.blob_path(content_hash), content_hash, row["mime"], row["name"])
    if row["width"] is None:
        raise NotFound("This file has no thumbnail.")
    if not row["has_thumb"]:  # a small animation is its own thumbnail
        return Served(store.blob_path(content_hash), content_hash, row["mime"], row["name"])
    return Served(
        store.thumb_path(content_hash), content_hash + "-t", "image/webp", row["name"] + ".webp"
    )


def _shared_folder(svc: Services) -> bool:
    """Whether other nodes use the data folder too (PostgreSQL: docs/scaling.md)."""
    return svc.db.dialect != "sqlite"


async def prepare_store(svc: Services) -> None:
    await asyncio.to_thread(blob_store(svc).prepare, ORPHAN_AGE_S if _shared_folder(svc) else 0)


async def drop_stale_temp_files(svc: Services) -> None:
    """On a shared folder, the half-received files of a node that died, once old (its own
    start dropped them on one device)."""
    if _shared_folder(svc):
        await asyncio.to_thread(blob_store(svc).drop_temp_files, ORPHAN_AGE_S)
