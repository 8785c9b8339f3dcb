"""Keep the device busy the way an office does while the power goes: people sending
messages, a file upload streaming, an admin downloading a backup, someone drawing.

Everything the server acknowledges is written down in a `Ledger`, and so is everything that
was sent but not yet acknowledged when the power went (what a client's outbox still holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.client import Client, Socket

UPLOAD_BYTES = 1 << 20  # a photo: several a round under emulation, one often cut part-way
UPLOAD_CHUNK = 64 << 10
BACKUP_CHUNK = 64 << 10
BOARD_OP_POINTS = 10  # ~0.4 KB an op: 30 cuts stay far inside the painter's budgets
REPLY_S = 60.0  # an emulated device under load answers slowly; the cut ends the wait anyway
RATE_LIMITED_WAIT_S = 0.5


@dataclass
class Ledger:
    """What the server said it kept, and what was in flight, over every cut of a run."""

    messages: dict[str, str] = field(default_factory=dict)  # client_id -> body, acknowledged
    messages_pending: dict[str, str] = field(default_factory=dict)
    ops: dict[str, dict[str, Any]] = field(default_factory=dict)  # op id -> op, acknowledged
    ops_pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[int, str] = field(default_factory=dict)  # upload id -> sha256, acknowledged
    uploads_cut: int = 0  # uploads the cut interrupted (whole or absent on the card)
    backups_cut_at: list[int] = field(default_factory=list)  # bytes read when the cut came
    backups_done: int = 0


async def request(sock: Socket, frame: dict[str, Any]) -> dict[str, Any]:
    """A request answered `ok`; past a rate limit it waits and asks again, as the app does
    (the owner is every sender here, so the load meets the per-person limits)."""
    while not (reply := await sock.request(frame, timeout=REPLY_S))["ok"]:
        assert reply["error"]["code"] == "rate_limited", reply
        await asyncio.sleep(float(reply["error"].get("retry_after_s") or RATE_LIMITED_WAIT_S))
    return reply


async def send_messages(sock: Socket, room: int, ledger: Ledger, tag: str) -> None:
    """One person typing fast: each message waits for the reply before the next, as the
    app's outbox sends them one after another."""
    while True:
        client_id = f"{tag}-{uuid.uuid4().hex[:12]}"
        body = f"power cut test {client_id}"
        ledger.messages_pending[client_id] = body
        frame = {"type": "message.send", "room": room, "body": body, "client_id": client_id}
        await request(sock, frame)
        ledger.messages[client_id] = ledger.messages_pending.pop(client_id)


def stroke(rng: random.Random) -> dict[str, Any]:
    points = [round(rng.uniform(0, 800), 1) for _ in range(2 * BOARD_OP_POINTS)]
    return {"id": uuid.uuid4().hex, "kind": "stroke", "color": "#205080", "size": 3,
            "points": points}  # fmt: skip


async def draw(sock: Socket, room: int, ledger: Ledger, rng: random.Random) -> None:
    """Strokes on the room's board (opened before the load starts)."""
    while True:
        op = stroke(rng)
        ledger.ops_pending[op["id"]] = op
        await request(sock, {"type": "paint.op", "room": room, "op": op})
        ledger.ops[op["id"]] = ledger.ops_pending.pop(op["id"])


async def _random_bytes(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), UPLOAD_CHUNK):
        yield data[start : start + UPLOAD_CHUNK]


async def upload(client: Client, ledger: Ledger, rng: random.Random) -> None:
    """Files one after another, each streamed in pieces: the cut finds one part-way."""
    while True:
        data = rng.randbytes(UPLOAD_BYTES)
        form = aiohttp.FormData()
        form.add_field("file", _random_bytes(data), filename="photo.bin",
                       content_type="application/octet-stream")  # fmt: skip
        ledger.uploads_cut += 1  # until its reply comes
        async with client.http.post(f"{client.base_url}/api/uploads", data=form) as resp:
            reply = await resp.json()
            assert resp.status == 201, (resp.status, reply)
            # Written down at once: the context's exit awaits, and a cut may come then.
            ledger.uploads_cut -= 1
            ledger.uploads[int(reply["upload"]["id"])] = hashlib.sha256(data).hexdigest()


async def download_backups(client: Client, ledger: Ledger) -> None:
    """An admin saving a backup, read slowly enough that the cut finds one being written."""
    while True:
        read = 0
        ledger.backups_cut_at.append(0)
        async with client.http.get(f"{client.base_url}/api/admin/backup") as resp:
            assert resp.status == 200, resp.status
            async for chunk in resp.content.iter_chunked(BACKUP_CHUNK):
                read += len(chunk)
                ledger.backups_cut_at[-1] = read
        ledger.backups_cut_at.pop()
        ledger.backups_done += 1


async def busy_until_cut(
    people: list[Client], sockets: list[Socket], room: int, ledger: Ledger,
    rng: random.Random, cut: asyncio.Event,
) -> None:  # fmt: skip
    """Run the load until `cut` is set, then drop every task as the power cut does. The
    sockets are open (and the board too) before: the cut's moment counts from the load."""
    _, _, uploader, admin = people
    tasks = [
        asyncio.create_task(send_messages(sockets[0], room, ledger, "a")),
        asyncio.create_task(send_messages(sockets[1], room, ledger, "b")),
        asyncio.create_task(draw(sockets[2], room, ledger, rng)),
        asyncio.create_task(upload(uploader, ledger, rng)),
        asyncio.create_task(download_backups(admin, ledger)),
    ]
    waiting = asyncio.create_task(cut.wait())
    done, _ = await asyncio.wait([waiting, *tasks], return_when=asyncio.FIRST_COMPLETED)
    # The cut kills QEMU and sets `cut` in one step of the loop: a task that ended without
    # `cut` set was refused by the device, not cut off.
    failed = None if waiting in done else next(iter(done))
    for task in [waiting, *tasks]:
        task.cancel()
    refused = [task for task in tasks if task.done() and not task.cancelled()
               and isinstance(task.exception(), AssertionError)]  # fmt: skip
    for task in tasks:
        with contextlib.suppress(Exception, asyncio.CancelledError):  # the cut's errors
            await task
    if failed is not None or refused:
        task = failed or refused[0]
        raise RuntimeError(f"the load failed before the power cut: {task.exception()!r}")
