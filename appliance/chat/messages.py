"""Message actions: send, edit, delete, react, read markers; history, threads, search."""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Any

from .. import wire
from ..access import access_message, access_room
from ..db import SyncTx, Tx
from ..engine import Row
from ..errors import BadRequest, Forbidden, NotFound, RateLimited, TooLarge
from ..storage import messages, rooms, users
from . import mentions, redaction, uploads

if TYPE_CHECKING:
    from ..state.services import Services

CLIENT_ID = re.compile(r"[\x21-\x7e]{1,64}")
MAX_EMOJI_CHARS = 64
MAX_EMOJI_PER_MESSAGE = 50
THREAD_LIMIT = 1000


def clean_body(svc: Services, body: str, *, may_be_empty: bool = False) -> str:
    if len(body) > svc.settings.limits.message_chars:
        raise TooLarge(
            f"A message may have at most {svc.settings.limits.message_chars} characters."
        )
    body = body.rstrip()
    if may_be_empty and not body.strip():
        return ""  # a message of files alone
    if not body.strip():
        raise BadRequest("A message needs some text.")
    if "\x00" in body:
        raise BadRequest("A message may not contain NUL characters.")
    return body


async def _check_rate(svc: Services, user_id: int) -> None:
    wait = await svc.send_limits.take(str(user_id))
    if wait > 0:
        raise RateLimited("You are sending too fast; slow down.", retry_after_s=wait)


async def _mentioned_ids(tx: Tx, room_id: int, body: str, author: int) -> tuple[list[int], bool]:
    """Mentioned members of the room (others only see what they can read)."""
    names, whole_room = mentions.parse(body)
    if not names:
        return [], whole_room
    ids = await users.active_ids_by_username(tx, sorted(names))
    members = set(await rooms.member_ids(tx, room_id))
    return sorted(uid for uid in ids.values() if uid in members and uid != author), whole_room


async def _current(tx: Tx, message_id: int) -> dict[str, Any]:
    row = await messages.get(tx, message_id)
    assert row is not None
    return (await messages.hydrate(tx, [row]))[0]


async def send(
    svc: Services,
    author: int,
    room_id: int,
    body: str,
    client_id: str | None,
    thread_id: int | None = None,
    attachments: list[int] | None = None,
) -> dict[str, Any]:
    """Store a message and publish it; returns once durable. A repeated client_id returns
    the message stored the first time and stores nothing."""
    files = uploads.check_attachments(attachments or [])
    body = clean_body(svc, body, may_be_empty=bool(files))
    if client_id is not None and not CLIENT_ID.fullmatch(client_id):
        raise BadRequest("client_id is 1–64 printable ASCII characters.")
    if not svc.hub.is_member(author, room_id):
        raise NotFound("No such room.")
    await _check_rate(svc, author)
    now = svc.now_ms()
    might_mention = "@" in body
    # SQLite's writer is a thread: a job of plain calls there costs the loop no hop per
    # statement. PostgreSQL's connection is the loop's own: there the same job would hop
    # to it and back for each statement (profiled: a third of a node's CPU), so it takes
    # the general path below, which awaits each one.
    if not files and svc.db.dialect == "sqlite":
        names, whole_room = mentions.parse(body) if might_mention else (set[str](), False)

        def sync_job(tx: SyncTx) -> dict[str, Any] | None:
            return _store_now(
                tx, author, room_id, body, client_id, thread_id, now, names, whole_room
            )

        stored = await svc.db.write_sync(sync_job)
        if stored is not None:
            return stored
        # Not stored: a retry of a message stored before, or no longer a member; the
        # general path below answers both.

    async def job(tx: Tx) -> dict[str, Any]:
        if thread_id is not None:
            root = await messages.get(tx, thread_id)
            if root is None or root["room_id"] != room_id:
                raise NotFound("No such thread in this room.")
            if root["thread_id"] is not None:
                raise BadRequest("Reply to the thread's first message, not to a reply.")
        mentioned: list[int] = []
        whole_room = False
        if might_mention:
            mentioned, whole_room = await _mentioned_ids(tx, room_id, body, author)
        row = await messages.insert_as_member(
            tx, room_id, author, thread_id, body, client_id, now, whole_room
        )
        if row is None:
            # A retry (the client_id is taken) returns the original, while its room is
            # still visible. Checked here, not before: a first send pays no extra query.
            if client_id is not None:
                earlier = await messages.by_client_id(tx, author, client_id)
                if earlier is not None and await rooms.role(tx, earlier["room_id"], author):
                    return (await messages.hydrate(tx, [earlier]))[0]
            raise NotFound("No such room.")
        if mentioned:
            await messages.set_mentions(tx, int(row["id"]), room_id, mentioned)
        if files:
            await uploads.attach(tx, int(row["id"]), author, files)
            message = await _current(tx, int(row["id"]))
        else:
            message = messages.to_api(row, reactions={}, mentions=mentioned)
        await tx.emit("message.new", room_id, {"message": message}, now)
        return message

    return await svc.db.write(job)


def _store_now(
    tx: SyncTx,
    author: int,
    room_id: int,
    body: str,
    client_id: str | None,
    thread_id: int | None,
    now: int,
    names: set[str],
    whole_room: bool,
) -> dict[str, Any] | None:
    """A message without files, in the writer's thread: the message row (its search-index
    row by trigger), its mentions and its event in one go. None when nothing was stored
    (the client_id is taken, or the author is not a member)."""
    if thread_id is not None:
        root = messages.get_sync(tx, thread_id)
        if root is None or root["room_id"] != room_id:
            raise NotFound("No such thread in this room.")
        if root["thread_id"] is not None:
            raise BadRequest("Reply to the thread's first message, not to a reply.")
    mentioned: list[int] = []
    if names:
        ids = messages.mentionable_ids_sync(tx, room_id, sorted(names))
        mentioned = [uid for uid in ids if uid != author]
    message_id = messages.insert_as_member_sync(
        tx, room_id, author, thread_id, body, client_id, now, whole_room
    )
    if message_id is None:
        return None
    if mentioned:
        messages.add_mentions_sync(tx, message_id, room_id, mentioned)
    # Encoded once: for the event, its frame and the sender's reply.
    message = messages.new_message(
        message_id, room_id, author, thread_id, body, client_id, now, mentioned, whole_room
    )
    tx.emit_encoded("message.new", room_id, f'{{"message":{message.json}}}', now)
    return message


async def edit(svc: Services, user_id: int, message_id: int, body: str) -> dict[str, Any]:
    row = await access_message(svc.db, user_id, message_id)
    has_files = bool(await uploads.files_of(svc, message_id))
    body = clean_body(svc, body, may_be_empty=has_files)  # a caption may be taken away
    if row["author_id"] != user_id:
        raise Forbidden("Only the author may edit a message.")
    if row["deleted"]:
        raise BadRequest("A deleted message cannot be edited.")
    if row["call"] is not None:
        raise BadRequest("A call record cannot be edited.")  # the server's own line
    await _check_rate(svc, user_id)
    now = svc.now_ms()
    room_id = int(row["room_id"])

    async def job(tx: Tx) -> dict[str, Any]:
        mentioned, whole_room = await _mentioned_ids(tx, room_id, body, user_id)
        await messages.edit(tx, message_id, body, now, whole_room)
        await messages.set_mentions(tx, message_id, room_id, mentioned)
        message = await _current(tx, message_id)
        await redaction.redact(tx, message)  # the old text leaves the earlier events
        await tx.emit("message.edit", room_id, {"message": message}, now)
        return message

    edited = await svc.db.write(job)
    await svc.scrubber.scrub()  # ... and the search index and the log, before we answer
    return edited


async def delete(svc: Services, user_id: int, message_id: int) -> dict[str, Any]:
    row = await access_message(svc.db, user_id, message_id)
    room_id = int(row["room_id"])
    if row["author_id"] != user_id:
        role = await rooms.role(svc.db, room_id, user_id)
        actor = await users.get(svc.db, user_id)
        if role != "owner" and not (actor is not None and actor["admin"]):
            raise Forbidden("Only the author, the room's owners and admins may delete it.")
    now = svc.now_ms()

    async def job(tx: Tx) -> tuple[dict[str, Any], bool]:
        current = await messages.get(tx, message_id)
        if current is None or current["deleted"]:
            return await _current(tx, message_id), False
        await messages.tombstone(tx, message_id, now)
        await uploads.release_message_files(svc, tx, message_id)
        message = await _current(tx, message_id)
        await redaction.redact(tx, message)  # earlier events now carry the tombstone
        await tx.emit("message.delete", room_id, {"message": message}, now)
        return message, True

    deleted, changed = await svc.db.write(job)
    if changed:  # a repeated delete costs no scrub
        await svc.scrubber.scrub()
    return deleted


async def react(svc: Services, user_id: int, message_id: int, emoji: str, on: bool) -> None:
    emoji = emoji.strip()
    if not emoji or len(emoji) > MAX_EMOJI_CHARS or any(c.isspace() for c in emoji):
        raise BadRequest(f"An emoji is 1–{MAX_EMOJI_CHARS} characters without spaces.")
    row = await access_message(svc.db, user_id, message_id)
    if row["deleted"]:
        raise BadRequest("A deleted message cannot be reacted to.")
    if on and await messages.count_distinct_emoji(svc.db, message_id) >= MAX_EMOJI_PER_MESSAGE:
        raise BadRequest(f"A message may have at most {MAX_EMOJI_PER_MESSAGE} kinds of reaction.")
    await _check_rate(svc, user_id)
    now = svc.now_ms()
    room_id = int(row["room_id"])

    async def job(tx: Tx) -> None:
        if await messages.set_reaction(tx, message_id, user_id, emoji, on, now):
            data = {"message": message_id, "user": user_id, "emoji": emoji, "on": on}
            await tx.emit("reaction", room_id, data, now)

    await svc.db.write(job)


async def mark_read(svc: Services, user_id: int, room_id: int, message_id: int) -> int:
    """Move the user's read marker forward; returns the marker as it now is."""
    row = await access_message(svc.db, user_id, message_id)
    if row["room_id"] != room_id:
        raise NotFound("No such message in this room.")
    now = svc.now_ms()

    async def job(tx: Tx) -> int:
        if await messages.advance_read_marker(tx, room_id, user_id, message_id):
            await tx.emit("read", room_id, {"user": user_id, "message": message_id}, now)
            return message_id
        markers = await messages.read_markers(tx, room_id)
        return markers.get(user_id, message_id)

    return await svc.db.write(job)


async def mark_unread(svc: Services, user_id: int, room_id: int, message_id: int) -> int:
    """Move the user's read marker back to just before a timeline message, so it and what
    follows count as unread again; returns the marker as it now is. The `read` event
    (with `moved_back`) tells the user's other devices to recount."""
    row = await access_message(svc.db, user_id, message_id)
    if row["room_id"] != room_id:
        raise NotFound("No such message in this room.")
    if row["thread_id"] is not None:
        raise BadRequest("Only a message of the room's timeline can be marked unread.")
    now = svc.now_ms()

    async def job(tx: Tx) -> int:
        before = await messages.timeline_id_before(tx, room_id, message_id)
        if await messages.move_read_marker_back(tx, room_id, user_id, before):
            data = {"user": user_id, "message": before, "moved_back": True}
            await tx.emit("read", room_id, data, now)
            return before
        markers = await messages.read_markers(tx, room_id)
        return markers.get(user_id, before)

    return await svc.db.write(job)


async def mark_thread_read(svc: Services, user_id: int, message_id: int) -> int:
    """Move the user's marker of a thread forward to a reply (or its root) they saw;
    returns the thread's marker as it now is. Only the user's own devices hear of it."""
    row = await access_message(svc.db, user_id, message_id)
    root_id = int(row["thread_id"] if row["thread_id"] is not None else row["id"])
    room_id = int(row["room_id"])
    now = svc.now_ms()

    async def job(tx: Tx) -> int:
        if await messages.advance_thread_marker(tx, root_id, user_id, message_id):
            data = {"room": room_id, "thread": root_id, "message": message_id}
            await tx.emit("thread.read", None, data, now, user_id=user_id)
            return message_id
        return await messages.thread_marker(tx, root_id, user_id)

    return await svc.db.write(job)


async def history(
    svc: Services, user_id: int, room_id: int, before: int | None, after: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    await access_room(svc.db, user_id, room_id)
    rows, has_more = await messages.page(svc.db, room_id, before=before, after=after, limit=limit)
    return await messages.hydrate(svc.db, rows), has_more


async def thread(svc: Services, user_id: int, root_id: int) -> list[dict[str, Any]]:
    root = await access_message(svc.db, user_id, root_id)
    if root["thread_id"] is not None:
        root = await access_message(svc.db, user_id, int(root["thread_id"]))
    replies = await messages.thread(svc.db, int(root["id"]), THREAD_LIMIT)
    return await messages.hydrate(svc.db, [root, *replies])


async def reads(svc: Services, user_id: int, room_id: int) -> dict[str, int]:
    await access_room(svc.db, user_id, room_id)
    return {str(k): v for k, v in (await messages.read_markers(svc.db, room_id)).items()}


# Letters and digits, as the index's tokenizer cuts them ("snake_case" is two words): the
# index keeps no positions (migration 0015), so a quoted term must be one token.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def search_words(text: str) -> list[str]:
    """User text → the words to find, each as a prefix (no operators get through)."""
    return list(_WORD.findall(text)[:16])


async def search(
    svc: Services, user_id: int, text: str, room_id: int | None, before: int | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Matches, newest first, and whether there are older ones (page with `before`)."""
    if len(text) > 256:
        raise BadRequest("A search may have at most 256 characters.")
    query = search_words(text)
    if not query:
        raise BadRequest("Search for at least one word.")
    if room_id is not None:
        await access_room(svc.db, user_id, room_id)
    since = svc.db.search_index_generation
    try:
        rows: list[Row] = await messages.search(svc.db, user_id, query, room_id, before, limit + 1)
    except sqlite3.DatabaseError as e:
        # A corrupt index (issue 19) is rebuilt from the messages and asked again.
        if not await svc.db.repaired_search_index(e, since):
            if isinstance(e, sqlite3.OperationalError):
                raise BadRequest("That search could not be understood.") from None
            raise
        rows = await messages.search(svc.db, user_id, query, room_id, before, limit + 1)
    return await messages.hydrate(svc.db, rows[:limit]), len(rows) > limit


def typing(svc: Services, user_id: int, room_id: int) -> None:
    """Ephemeral: relayed to the room's other members, never stored."""
    if not svc.hub.is_member(user_id, room_id):
        raise NotFound("No such room.")
    data = wire.frame({"type": "typing", "room": room_id, "user": user_id})
    svc.hub.relay(svc.hub.members(room_id), data, skip_user=user_id)
