"""Pull the plug: cut the device's power while it is busy, again and again (issue 19).

Each round: people send messages, an upload streams, a backup downloads and someone draws;
at a moment drawn from the seeded generator QEMU is killed with SIGKILL (the guest's disk is
opened with cache=none: what the guest held in memory, or had not flushed to new space on
its disk, is lost, as docs/flashing.md's "Power cuts" says). The card is then
checked as the cut left it (`card.py`), and the device is powered on again with no hand on
the console. It must come back on its own with the same name, certificate and setup, take
the outbox's re-sends (same client ids) once each, and show everything it acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import ssl
import time
from pathlib import Path
from typing import Any

from tests.client import Client

from .card import check_card
from .guest import Guest, serial_failures
from .load import REPLY_S, Ledger, busy_until_cut, request
from .scenario import PASSWORD, client, device_ca, log

# The cut comes this many seconds into the load (uniform between the two).
CUT_AFTER_S = (1.0, 12.0)
# Seconds from power-on after a cut to the app answering: a boot after a cut runs fsck.
CUT_BOOT_LIMIT = float(os.environ.get("PYCHAT_IMAGE_TEST_CUT_BOOT_LIMIT", "360"))
PAGE = 200
MIN_CUTS_FOR_AN_UPLOAD = 3  # a 1 MiB upload takes a few seconds on an emulated device


async def identity(guest: Guest, base: str, ctx: ssl.SSLContext) -> dict[str, Any]:
    """What must survive any cut: the certificate, the device's name, that it is set up."""
    pem = await asyncio.to_thread(
        ssl.get_server_certificate, ("127.0.0.1", guest.https), timeout=REPLY_S
    )
    owner = client(base, ctx)
    try:
        await owner.login("owner", PASSWORD)  # the setup and the owner's account survived
        name = (await owner.get("/api/admin/device"))["name"]
        async with owner.http.get(f"{base}/setup", allow_redirects=False) as resp:
            set_up = resp.status == 302 and resp.headers.get("Location") == "/"
    finally:
        await owner.close()
    der = ssl.PEM_cert_to_DER_cert(pem)
    return {"certificate": hashlib.sha256(der).hexdigest(), "name": name, "set_up": set_up}


async def room_id(owner: Client) -> int:
    rooms = (await owner.get("/api/rooms"))["rooms"]
    return int(next(r["id"] for r in rooms if r.get("name") == "general"))


async def timeline_client_ids(owner: Client, room: int) -> dict[str, int]:
    """How many times each client id appears in the room's whole timeline."""
    seen: dict[str, int] = {}
    page = await owner.get(f"/api/rooms/{room}/messages?limit={PAGE}")
    while True:
        for message in page["messages"]:
            if message.get("client_id"):
                seen[message["client_id"]] = seen.get(message["client_id"], 0) + 1
        if not page["has_more"] or not page["messages"]:
            return seen
        oldest = page["messages"][0]["id"]
        page = await owner.get(f"/api/rooms/{room}/messages?before={oldest}&limit={PAGE}")


async def board_op_ids(sock: Any, room: int) -> dict[str, int]:
    board = (await request(sock, {"type": "paint.open", "room": room}))["data"]["board"]
    ops, after = list(board["ops"]), board["next"]
    while after is not None:
        frame = {"type": "paint.ops", "room": room, "after": after, "until": board["seq"]}
        more = (await request(sock, frame))["data"]
        ops += more["ops"]
        after = more["next"]
    counts: dict[str, int] = {}
    for op in ops:
        counts[op["id"]] = counts.get(op["id"], 0) + 1
    return counts


async def outbox_and_check(base: str, ctx: ssl.SSLContext, ledger: Ledger, fresh: set[int]) -> None:
    """As the app does when it is back: re-send what was not acknowledged, with the same
    ids; then everything acknowledged, ever, is there exactly once."""
    owner = client(base, ctx)
    try:
        await owner.login("owner", PASSWORD)
        room = await room_id(owner)
        sock = await owner.connect()
        for client_id, body in list(ledger.messages_pending.items()):
            frame = {"type": "message.send", "room": room, "body": body, "client_id": client_id}
            await request(sock, frame)
            ledger.messages[client_id] = ledger.messages_pending.pop(client_id)
        await request(sock, {"type": "paint.open", "room": room})
        for op_id, op in list(ledger.ops_pending.items()):
            await request(sock, {"type": "paint.op", "room": room, "op": op})
            ledger.ops[op_id] = ledger.ops_pending.pop(op_id)
        seen = await timeline_client_ids(owner, room)
        wrong = [cid for cid in ledger.messages if seen.get(cid) != 1]
        assert not wrong, f"messages not there exactly once after the boot: {wrong[:5]}"
        ops = await board_op_ids(sock, room)
        wrong = [op_id for op_id in ledger.ops if ops.get(op_id) != 1]
        assert not wrong, f"board ops not there exactly once after the boot: {wrong[:5]}"
        for upload_id in sorted(fresh):
            async with owner.http.get(f"{base}/api/uploads/{upload_id}/photo.bin") as resp:
                assert resp.status == 200, (upload_id, resp.status)
                digest = hashlib.sha256(await resp.read()).hexdigest()
            assert digest == ledger.uploads[upload_id], f"upload {upload_id} changed"
    finally:
        await owner.close()


async def one_cut(
    guest: Guest, base: str, ledger: Ledger, moment: float, rng: random.Random
) -> None:
    """Load, then the cut `moment` seconds into it."""
    ctx = await device_ca(guest)
    people = [client(base, ctx) for _ in range(4)]
    try:
        for person in people:
            await person.login("owner", PASSWORD)
        room = await room_id(people[0])
        sockets = [await people[0].connect(), await people[1].connect()]
        sockets.append(await people[1].connect())
        await request(sockets[2], {"type": "paint.open", "room": room})
        cut = asyncio.Event()
        load = asyncio.create_task(busy_until_cut(people, sockets, room, ledger, rng, cut))
        done, _ = await asyncio.wait([load], timeout=moment)  # the cut's moment, by design
        if done:
            load.result()  # the load ended before the cut: it says why
        guest.power_cut()
        cut.set()  # in the same step as the kill: the load tells refusals from the cut
        await load
    finally:
        for person in people:
            await person.close()


async def power_cuts(guest: Guest, work: Path, cuts: int, seed: int) -> dict[str, float]:
    # The moments come from the seed alone; the load's own draws (strokes, file bytes)
    # depend on how far each round got, so they take a generator of their own.
    timing = random.Random(seed)
    moments = [timing.uniform(*CUT_AFTER_S) for _ in range(cuts)]
    rng = random.Random(seed + 1)
    ledger = Ledger()
    base = f"https://127.0.0.1:{guest.https}"
    before = await identity(guest, base, await device_ca(guest))
    assert before["set_up"], before
    log(f"power cuts: {cuts}, seed {seed} (PYCHAT_IMAGE_TEST_SEED={seed} repeats them)")
    boots: list[float] = []
    for n in range(1, cuts + 1):
        known_uploads = set(ledger.uploads)
        moment = moments[n - 1]
        await one_cut(guest, base, ledger, moment, rng)
        in_flight = (
            f"{len(ledger.messages_pending)} messages, {len(ledger.ops_pending)} board ops, "
            f"{ledger.uploads_cut} upload, backups at {ledger.backups_cut_at} bytes"
        )
        log(f"cut {n}/{cuts}: power off {moment:.1f} s into the load; in flight: {in_flight}")
        ledger.uploads_cut, ledger.backups_cut_at = 0, []
        card = await asyncio.to_thread(check_card, guest.overlay, work, ledger)
        log(
            f"cut {n}/{cuts}: the card: e2fsck status {card.fsck_status}, integrity ok, "
            f"{card.messages} messages and {card.ops} board ops with every acknowledged one "
            f"once, {card.blobs} files whole, {card.temp_files} half-received in tmp/"
        )
        guest.serial = work / f"serial-cut{n:02}.log"
        power_on = time.monotonic()
        guest.start()
        boots.append(await guest.wait_for_https("/api/health", power_on + CUT_BOOT_LIMIT))
        ctx = await device_ca(guest)
        after = await identity(guest, base, ctx)
        assert after == before, f"the device came back changed: {before} -> {after}"
        await outbox_and_check(base, ctx, ledger, set(ledger.uploads) - known_uploads)
        failures = serial_failures(guest.serial)
        assert not failures, f"units failed in the boot after cut {n}: {failures}"
        log(
            f"cut {n}/{cuts}: back by itself in {boots[-1]:.0f} s, same name, certificate and "
            f"setup; outbox re-sent; {len(ledger.messages)} messages, {len(ledger.ops)} ops, "
            f"{len(ledger.uploads)} uploads acknowledged so far, each there once"
        )
    # Not vacuous: the rounds must have had things acknowledged to check.
    assert ledger.messages and ledger.ops, "no message or board op was acknowledged"
    assert ledger.uploads or cuts < MIN_CUTS_FOR_AN_UPLOAD, "no upload finished in any round"
    log(
        f"power cuts: {cuts} cuts, seed {seed}, every boot unattended "
        f"({min(boots):.0f}-{max(boots):.0f} s, mean {sum(boots) / len(boots):.0f} s); "
        f"{ledger.backups_done} backups finished between cuts"
    )
    return {"cuts": cuts, "cut_boot_mean_s": sum(boots) / len(boots)}


def seed_from_env() -> int:
    value = os.environ.get("PYCHAT_IMAGE_TEST_SEED")
    return int(value) if value else random.SystemRandom().randrange(2**32)
