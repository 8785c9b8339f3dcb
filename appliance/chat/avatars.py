"""Profile and room pictures: the browser crops, the server makes a 256 px WebP of it.

Avatars are named by the hash of that WebP (`/api/avatars/<hash>.webp`), so a URL never
changes meaning and may be cached for good; the file goes when no user or room uses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..db import Tx
from ..errors import BadRequest, NotFound, TooLarge
from ..files import images
from ..files.blobs import HASH, BlobStore, hash_file, open_temp
from ..storage import rooms, uploads, users
from .rooms import RoomManager, authorize_manager
from .uploads import blob_store, in_a_later_write

if TYPE_CHECKING:
    from ..state.services import Services

MAX_AVATAR_BYTES = 10 << 20


async def _make(store: BlobStore, chunks: AsyncIterator[bytes]) -> tuple[str, Path]:
    """Receive an image and turn it into an avatar file in the temp folder: (hash, path)."""
    temp = await open_temp(store)
    made = store.temp_path()
    try:
        async for chunk in chunks:
            if temp.size + len(chunk) > MAX_AVATAR_BYTES:
                raise TooLarge(f"A picture may have at most {MAX_AVATAR_BYTES >> 20} MiB.")
            await temp.write(chunk)
        await temp.finish()
        try:
            await asyncio.to_thread(images.make_avatar, temp.path, made)
        except images.NotAnImage:
            raise BadRequest("A picture must be a PNG, JPEG, GIF or WebP image.") from None
        return await asyncio.to_thread(hash_file, made), made
    except BaseException:
        await asyncio.shield(asyncio.to_thread(BlobStore.remove, made))
        raise
    finally:
        await asyncio.shield(temp.discard())


async def _swap(
    svc: Services, tx: Tx, store: BlobStore, old: str | None, new: str | None, made: Path | None
) -> None:
    """Inside the write: put the new file in place; drop the old one, if now unused, once
    the change has committed (a failed commit keeps the old picture that rows still name).
    On PostgreSQL each picture's changes take turns with other nodes' (its lock, held to
    the commit), and the old one goes only in a later write, under its lock."""
    for picture in sorted({h for h in (old, new) if h}):
        await uploads.lock_blob(tx, picture, uploads.AVATAR_LOCKS)
    if new is not None and made is not None:
        await asyncio.to_thread(store.place, made, store.avatar_path(new))
    if old and old != new and not await uploads.avatar_in_use(tx, old):
        gone = store.avatar_path(old)

        async def remove() -> None:
            # A later job of the same batch may have put the same picture back.
            if not await uploads.avatar_in_use(tx, old):
                await asyncio.to_thread(BlobStore.remove, gone)

        async def remove_in_turn(later: Tx) -> None:
            await uploads.lock_blob(later, old, uploads.AVATAR_LOCKS)
            if not await uploads.avatar_in_use(later, old):
                await asyncio.to_thread(BlobStore.remove, gone)

        tx.on_commit(remove if tx.dialect == "sqlite" else in_a_later_write(svc, remove_in_turn))


async def _user_job(
    svc: Services, user_id: int, new: str | None, made: Path | None
) -> dict[str, Any]:
    store = blob_store(svc)
    now = svc.now_ms()

    async def job(tx: Tx) -> dict[str, Any]:
        old = await uploads.set_user_avatar(tx, user_id, new)
        await _swap(svc, tx, store, old, new, made)
        row = await users.get(tx, user_id)
        assert row is not None
        user = users.to_api(row, online=svc.hub.is_online(user_id))
        await tx.emit("user.update", None, {"user": user}, now)
        return user

    return await svc.db.write(job)


async def set_user_avatar(
    svc: Services, user_id: int, chunks: AsyncIterator[bytes]
) -> dict[str, Any]:
    store = blob_store(svc)
    new, made = await _make(store, chunks)
    try:
        return await _user_job(svc, user_id, new, made)
    finally:
        await asyncio.shield(asyncio.to_thread(BlobStore.remove, made))


async def clear_user_avatar(svc: Services, user_id: int) -> dict[str, Any]:
    return await _user_job(svc, user_id, None, None)


async def authorize_room_picture(svc: Services, actor: int, room_id: int) -> RoomManager:
    """The people who may rename a room may change its picture (not in direct rooms); a
    handler asks before it reads the picture."""
    return await authorize_manager(
        svc,
        actor,
        room_id,
        to="change its picture",
        direct="A direct conversation shows the other person's picture.",
    )


async def _room_job(
    svc: Services, room_id: int, new: str | None, made: Path | None
) -> dict[str, Any]:
    store = blob_store(svc)
    now = svc.now_ms()

    async def job(tx: Tx) -> dict[str, Any]:
        old = await uploads.set_room_avatar(tx, room_id, new)
        await _swap(svc, tx, store, old, new, made)
        row = await rooms.get(tx, room_id)
        assert row is not None
        members = (await rooms.members_of_rooms(tx, [room_id]))[room_id]
        room = rooms.to_api(row, members)
        await tx.emit("room.update", room_id, {"room": room}, now)
        return room

    return await svc.db.write(job)


async def set_room_avatar(
    svc: Services, manager: RoomManager, chunks: AsyncIterator[bytes]
) -> dict[str, Any]:
    store = blob_store(svc)
    new, made = await _make(store, chunks)
    try:
        return await _room_job(svc, manager.room_id, new, made)
    finally:
        await asyncio.shield(asyncio.to_thread(BlobStore.remove, made))


async def clear_room_avatar(svc: Services, manager: RoomManager) -> dict[str, Any]:
    return await _room_job(svc, manager.room_id, None, None)


async def avatar_file(svc: Services, file_name: str) -> Path:
    """`<hash>.webp` → its file; anything else, or a picture no longer used, is a 404."""
    content_hash, dot, ext = file_name.partition(".")
    if ext != "webp" or not dot or not HASH.fullmatch(content_hash):
        raise NotFound("No such picture.")
    path = blob_store(svc).avatar_path(content_hash)
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("No such picture.")
    return path
