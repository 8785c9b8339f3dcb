"""Files sent browser to browser over WebRTC data channels (issue #7): a 50 MB file crosses
directly and through our TURN, its SHA-256 checks out on both sides, a cancelled transfer
leaves nothing behind, a broken channel resumes, and no byte of it touches the server."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Locator, Page, WebSocket, expect

from tests.client import Client
from tests.conftest import USER_PASSWORD, UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW, open_room
from tests.rtc.serve import start_turn_serve
from tests.server import ADMIN_PASSWORD, Server

MB = 1024 * 1024
SIZE = 50 * MB
# Long enough for 50 MB through SCTP in software on a loaded 2-core machine.
TRANSFER = 180_000


def make_file(folder: Path, marker: bytes, size: int = SIZE) -> tuple[Path, str]:
    """A file of random bytes with `marker` at its start, middle and end; and its SHA-256."""
    data = bytearray(os.urandom(size))
    for at in (0, size // 2, size - len(marker)):
        data[at : at + len(marker)] = marker
    path = folder / "p2p-payload.bin"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


@dataclass
class Wire:
    """Every WebSocket frame and HTTP request body a page exchanges with the server."""

    frames: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("websocket", self._socket)
        page.on("request", lambda request: self.bodies.append(request.post_data_buffer or b""))

    def _socket(self, ws: WebSocket) -> None:
        def keep(payload: str | bytes) -> None:
            self.frames.append(payload.encode() if isinstance(payload, str) else payload)

        ws.on("framesent", keep)
        ws.on("framereceived", keep)

    def total(self) -> int:
        return sum(map(len, self.frames)) + sum(map(len, self.bodies))

    def carries(self, marker: bytes) -> bool:
        return any(marker in chunk for chunk in [*self.frames, *self.bodies])


async def with_test_switches(context: BrowserContext, page: Page, hooks: dict[str, Any]) -> Page:
    """Reload with the app's test switches set (receive into OPFS, no save dialog)."""
    await context.add_init_script(f"window.__pychatTest = {json.dumps(hooks)}")
    await page.reload()
    return page


async def live(page: Page) -> None:
    """The page's socket is up and caught up: an offer made now reaches this device (offers
    go to the devices connected when they are made; a loaded machine showed one that was
    still connecting miss it)."""
    connection = page.get_by_test_id("connection")
    await expect(connection).to_have_attribute("data-state", "online", timeout=SLOW)
    await expect(connection).to_have_attribute("data-caught-up", "yes", timeout=SLOW)


async def pair(
    open_as: ContextFactory,
    alice: Client,
    bob: Client,
    *,
    server: Server | None = None,
    hooks: dict[str, Any] | None = None,
) -> tuple[int, Page, Page]:
    dm = await new_room(alice, bob, kind="direct")
    pages = []
    for user in (alice, bob):
        context, page = await open_as(user, server=server)
        await with_test_switches(context, page, {"sink": "opfs", **(hooks or {})})
        await open_room(page, dm["id"])
        await live(page)
        pages.append(page)
    return dm["id"], pages[0], pages[1]


def card(page: Page, direction: str) -> Locator:
    return page.get_by_test_id("p2p-transfer").and_(page.locator(f"[data-direction={direction}]"))


async def offer(sender: Page, receiver: Page, path: Path) -> tuple[Locator, Locator]:
    await sender.get_by_test_id("p2p-file-input").set_input_files(str(path))
    outgoing, incoming = card(sender, "out"), card(receiver, "in")
    await expect(outgoing).to_have_attribute("data-state", "waiting")
    await expect(incoming).to_have_attribute("data-name", path.name)
    await expect(incoming).to_contain_text("50 MB")
    return outgoing, incoming


async def opfs_files(page: Page) -> dict[str, str]:
    """The files the receiver holds in its origin-private file system, with their SHA-256."""
    return dict(
        await page.evaluate(
            """async () => {
              const root = await navigator.storage.getDirectory()
              let dir
              try { dir = await root.getDirectoryHandle('p2p-incoming') } catch { return [] }
              const out = []
              for await (const [name, handle] of dir.entries()) {
                const file = await handle.getFile()
                const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer())
                out.push([name, [...new Uint8Array(digest)]
                  .map((b) => b.toString(16).padStart(2, '0')).join('')])
              }
              return out
            }"""
        )
    )


async def routes(page: Page) -> list[dict[str, str]]:
    return list(await page.evaluate("() => window.__pychatPeers.routes()"))


async def complete(outgoing: Locator, incoming: Locator, sha: str) -> None:
    for side in (incoming, outgoing):
        await expect(side).to_have_attribute("data-state", "done", timeout=TRANSFER)
        await expect(side).to_have_attribute("data-percent", "100")
        await expect(side).to_have_attribute("data-sha256", sha)
    await expect(incoming.get_by_test_id("p2p-save")).to_be_visible()


def data_dir_holds(data: Path, marker: bytes) -> list[Path]:
    return [p for p in data.rglob("*") if p.is_file() and marker in p.read_bytes()]


async def test_a_50_mb_file_crosses_directly_and_never_touches_the_server(
    open_as: ContextFactory, make_user: UserFactory, server: Server, tmp_path: Path
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    _, alice_page, bob_page = await pair(open_as, alice, bob)
    wire = Wire()
    for page in (alice_page, bob_page):
        wire.watch(page)
    marker = f"PYCHAT-P2P-{uuid.uuid4().hex}".encode()
    path, sha = make_file(tmp_path, marker)

    outgoing, incoming = await offer(alice_page, bob_page, path)
    await incoming.get_by_test_id("p2p-accept").click()
    # Both sides show progress on the way, with a speed and the time left.
    await expect(outgoing).to_contain_text("/s", timeout=TRANSFER)
    await complete(outgoing, incoming, sha)

    held = await opfs_files(bob_page)
    assert list(held.values()) == [sha]
    assert [r for r in await routes(alice_page) if r["local"] == "host"]
    # Signalling only: the whole exchange with the server is a tiny fraction of the file.
    assert not wire.carries(marker)
    assert wire.total() < SIZE // 50, wire.total()
    assert not data_dir_holds(server.data, marker)

    # Saving and dismissing the received file removes it from the browser's storage.
    await incoming.get_by_test_id("p2p-dismiss").click()
    await expect(incoming).to_have_count(0)
    assert await opfs_files(bob_page) == {}


async def test_a_50_mb_file_crosses_relay_only_through_our_turn(
    open_as: ContextFactory, tmp_path: Path
) -> None:
    turn_server, _ = start_turn_serve(tmp_path / "turn-data")
    clients: list[Client] = []
    try:
        admin = await Client(turn_server.url).login("admin", ADMIN_PASSWORD)
        clients.append(admin)
        users = []
        for prefix in ("alice", "bob"):
            name = f"{prefix}{uuid.uuid4().hex[:8]}"
            await admin.post(
                "/api/admin/users", {"username": name, "password": USER_PASSWORD}, expect=201
            )
            user = await Client(turn_server.url).login(name, USER_PASSWORD)
            clients.append(user)
            users.append(user)
        turn = await users[0].get("/api/turn")
        assert turn["urls"], "the test server runs no TURN"
        _, alice_page, bob_page = await pair(
            open_as, users[0], users[1], server=turn_server, hooks={"relayOnly": True}
        )
        marker = f"PYCHAT-P2P-{uuid.uuid4().hex}".encode()
        path, sha = make_file(tmp_path, marker)

        outgoing, incoming = await offer(alice_page, bob_page, path)
        await incoming.get_by_test_id("p2p-accept").click()
        await complete(outgoing, incoming, sha)

        assert list((await opfs_files(bob_page)).values()) == [sha]
        for page in (alice_page, bob_page):
            found = await routes(page)
            assert found and all(r["local"] == "relay" for r in found), found
        assert not data_dir_holds(turn_server.data, marker)
    finally:
        for client in clients:
            await client.close()
        turn_server.stop()


@pytest.mark.parametrize("who", ["sender", "receiver"])
async def test_a_cancelled_transfer_leaves_nothing_behind(
    open_as: ContextFactory, make_user: UserFactory, server: Server, tmp_path: Path, who: str
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    # Bob's device stops writing after 5 MB, so the transfer is surely running when cut.
    _, alice_page, bob_page = await pair(open_as, alice, bob, hooks={"stallAt": 5 * MB})
    marker = f"PYCHAT-P2P-{uuid.uuid4().hex}".encode()
    path, _ = make_file(tmp_path, marker)

    outgoing, incoming = await offer(alice_page, bob_page, path)
    await incoming.get_by_test_id("p2p-accept").click()
    await expect(incoming).to_have_attribute("data-percent", "10")
    assert await opfs_files(bob_page)  # partly written

    # Either side may cancel.
    await (outgoing if who == "sender" else incoming).get_by_test_id("p2p-cancel").click()

    for side in (outgoing, incoming):
        await expect(side).to_have_attribute("data-state", "cancelled")
    assert await opfs_files(bob_page) == {}
    assert not data_dir_holds(server.data, marker)
    await incoming.get_by_test_id("p2p-dismiss").click()
    await expect(card(bob_page, "in")).to_have_count(0)


async def test_a_transfer_cut_by_a_closed_channel_resumes_where_it_stopped(
    open_as: ContextFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    # Bob's device closes the transfer's data channel once, after 20 MB.
    _, alice_page, bob_page = await pair(open_as, alice, bob, hooks={"breakAt": 20 * MB})
    path, sha = make_file(tmp_path, f"PYCHAT-P2P-{uuid.uuid4().hex}".encode())

    outgoing, incoming = await offer(alice_page, bob_page, path)
    await incoming.get_by_test_id("p2p-accept").click()
    await complete(outgoing, incoming, sha)

    # It went on from what Bob had written, not from the start: one resume at ≥ 20 MB.
    for side in (incoming, outgoing):
        assert await side.get_attribute("data-resumes") == "1"
        resumed_from = int(await side.get_attribute("data-resumed-from") or 0)
        assert 20 * MB <= resumed_from < SIZE
    assert list((await opfs_files(bob_page)).values()) == [sha]


async def test_declining_an_offer_tells_the_sender(
    open_as: ContextFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    _, alice_page, bob_page = await pair(open_as, alice, bob)
    path = tmp_path / "notes.txt"
    path.write_text("not for you")

    await alice_page.get_by_test_id("p2p-file-input").set_input_files(str(path))
    incoming = card(bob_page, "in")
    await expect(incoming).to_contain_text("notes.txt")
    await incoming.get_by_test_id("p2p-decline").click()

    await expect(card(alice_page, "out")).to_have_attribute("data-state", "declined")
    await expect(incoming).to_have_count(0)
    assert await opfs_files(bob_page) == {}


async def test_in_a_p2p_conversation_attaching_offers_the_file_directly(
    open_as: ContextFactory, make_user: UserFactory, server: Server, tmp_path: Path
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    dm, alice_page, bob_page = await pair(open_as, alice, bob)
    await alice.call("PATCH", f"/api/rooms/{dm}", {"p2p": True})
    await expect(alice_page.get_by_test_id("p2p-banner")).to_be_visible()
    wire = Wire()
    wire.watch(alice_page)
    marker = f"PYCHAT-P2P-{uuid.uuid4().hex}"
    path = tmp_path / "minutes.txt"
    path.write_text(f"private minutes {marker}")

    # The ordinary attach button: in this conversation it uploads nothing.
    await alice_page.get_by_test_id("composer-file-input").set_input_files(str(path))
    incoming = card(bob_page, "in")
    await expect(incoming).to_have_attribute("data-name", "minutes.txt")
    await incoming.get_by_test_id("p2p-accept").click()
    await expect(incoming).to_have_attribute("data-state", "done", timeout=SLOW)

    assert not wire.carries(marker.encode())
    assert not data_dir_holds(server.data, marker.encode())


async def test_accepting_an_offer_whose_sender_left_fails_cleanly(
    open_as: ContextFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    _, alice_page, bob_page = await pair(open_as, alice, bob)
    path = tmp_path / "draft.txt"
    path.write_text("offered, then the sender left")
    await alice_page.get_by_test_id("p2p-file-input").set_input_files(str(path))
    incoming = card(bob_page, "in")
    await expect(incoming).to_contain_text("draft.txt")

    await alice_page.close()
    await incoming.get_by_test_id("p2p-accept").click()

    # Retried for about half a minute, then given up, with nothing kept.
    await expect(incoming).to_have_attribute("data-state", "failed", timeout=60_000)
    await expect(incoming).to_contain_text("connection to the sender was lost")
    assert await opfs_files(bob_page) == {}


async def test_an_offer_reaches_every_device_and_leaves_the_others_once_one_accepts(
    open_as: ContextFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    dm, alice_page, bob_phone = await pair(open_as, alice, bob)
    context, bob_laptop = await open_as(bob)
    await with_test_switches(context, bob_laptop, {"sink": "opfs"})
    await open_room(bob_laptop, dm)
    await live(bob_laptop)
    path = tmp_path / "slides.txt"
    path.write_text("the slides")

    await alice_page.get_by_test_id("p2p-file-input").set_input_files(str(path))
    for device in (bob_phone, bob_laptop):
        await expect(card(device, "in")).to_contain_text("slides.txt")
    await expect(card(alice_page, "out")).to_have_count(2)  # one per device

    await card(bob_laptop, "in").get_by_test_id("p2p-accept").click()

    await expect(card(bob_laptop, "in")).to_have_attribute("data-state", "done", timeout=SLOW)
    await expect(card(bob_phone, "in")).to_have_count(0)
    await expect(card(alice_page, "out")).to_have_count(1)
    await expect(card(alice_page, "out")).to_have_attribute("data-state", "done")


async def overlap(a: Locator, b: Locator) -> bool:
    """Whether two elements' boxes on screen intersect."""
    one, two = await a.bounding_box(), await b.bounding_box()
    assert one and two
    return (
        one["x"] < two["x"] + two["width"]
        and two["x"] < one["x"] + one["width"]
        and one["y"] < two["y"] + two["height"]
        and two["y"] < one["y"] + one["height"]
    )


async def test_the_transfers_tray_covers_nothing_and_finished_cards_go_away(
    open_as: ContextFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    # Finished cards go away after 2 s here (a minute in use).
    dm, alice_page, bob_page = await pair(open_as, alice, bob, hooks={"finishedCardMs": 2000})
    await alice.call("PATCH", f"/api/rooms/{dm}", {"p2p": True})
    path = tmp_path / "agenda.txt"
    path.write_text("the agenda")
    await expect(alice_page.get_by_test_id("p2p-banner")).to_be_visible()
    await alice_page.get_by_test_id("composer-file-input").set_input_files(str(path))
    outgoing, incoming = card(alice_page, "out"), card(bob_page, "in")
    await expect(incoming).to_contain_text("agenda.txt")

    # The tray has its own place: the room's header, banner and composer stay uncovered.
    for page in (alice_page, bob_page):
        tray, room = page.get_by_test_id("p2p-tray"), page.get_by_test_id("room-view")
        for part in (
            room.get_by_test_id("room-title"),
            room.get_by_test_id("p2p-banner"),
            room.locator("form.composer"),
        ):
            await expect(part).to_be_visible()
            assert not await overlap(tray, part), await part.get_attribute("data-testid")

    await incoming.get_by_test_id("p2p-accept").click()
    await expect(incoming).to_have_attribute("data-state", "done", timeout=SLOW)
    # The sender's finished card goes on its own; the received file's waits to be saved...
    await expect(outgoing).to_have_count(0, timeout=SLOW)
    await expect(alice_page.get_by_test_id("p2p-tray")).to_have_count(0)
    # ...even on the board, whose toolbar it does not cover.
    await bob_page.get_by_test_id("room-board-button").click()
    toolbar = bob_page.get_by_role("toolbar", name="Drawing tools")
    await expect(toolbar).to_be_visible()
    await expect(incoming).to_have_attribute("data-state", "done")
    assert not await overlap(bob_page.get_by_test_id("p2p-tray"), toolbar)
    assert not await overlap(
        bob_page.get_by_test_id("p2p-tray"), bob_page.get_by_test_id("board-back")
    )
    # Saved, it goes too.
    async with bob_page.expect_download():
        await incoming.get_by_test_id("p2p-save").click()
    await expect(incoming).to_have_count(0, timeout=SLOW)


async def test_an_offer_to_a_device_that_went_offline_says_so_and_ends(
    open_as: ContextFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    _, alice_page, bob_page = await pair(open_as, alice, bob)
    path = tmp_path / "report.txt"
    path.write_text("for bob")
    await alice_page.get_by_test_id("p2p-file-input").set_input_files(str(path))
    outgoing = card(alice_page, "out")
    await expect(card(bob_page, "in")).to_contain_text("report.txt")
    await expect(outgoing).to_have_attribute("data-state", "waiting")

    await bob_page.close()

    await expect(outgoing).to_have_attribute("data-state", "offline", timeout=SLOW)
    await expect(outgoing.get_by_test_id("p2p-status")).to_have_text("They went offline; not sent")
    await expect(outgoing.get_by_test_id("p2p-cancel")).to_have_count(0)
    await outgoing.get_by_test_id("p2p-dismiss").click()
    await expect(outgoing).to_have_count(0)


async def test_leaving_p2p_mode_withdraws_pending_offers_on_both_sides(
    open_as: ContextFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    dm, alice_page, bob_page = await pair(open_as, alice, bob)
    await alice.call("PATCH", f"/api/rooms/{dm}", {"p2p": True})
    await expect(alice_page.get_by_test_id("p2p-banner")).to_be_visible()
    path = tmp_path / "plan.txt"
    path.write_text("the plan")
    await alice_page.get_by_test_id("composer-file-input").set_input_files(str(path))
    outgoing, incoming = card(alice_page, "out"), card(bob_page, "in")
    await expect(incoming).to_contain_text("plan.txt")

    await bob.call("PATCH", f"/api/rooms/{dm}", {"p2p": False})

    await expect(outgoing).to_have_attribute("data-state", "withdrawn")
    await expect(outgoing.get_by_test_id("p2p-status")).to_contain_text(
        "left peer-to-peer mode; not sent"
    )
    await expect(incoming).to_have_count(0)
