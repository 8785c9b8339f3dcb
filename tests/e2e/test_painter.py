"""The shared board in browsers: what one person draws appears on the others' boards as it
is drawn, pixel for pixel; a late joiner sees the same picture; it survives a restart; a
picture goes onto the board, the board into the room, and into a running call."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import new_room
from tests.e2e.conftest import ContextFactory, OwnUserFactory
from tests.e2e.helpers import SLOW
from tests.server import Server

# Two animation frames after the last change: the board has been drawn (it renders in rAF).
PIXELS = """async () => {
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))
  return document.querySelector('[data-testid=board-canvas]').toDataURL()
}"""
# Whether at least `least` pixels of a canvas are not plain white (board) or not
# transparent (overlay).
INKED = """([id, transparent, least]) => {
  const c = document.querySelector(`[data-testid=${id}]`)
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
  let n = 0
  for (let i = 0; i < d.length; i += 4) {
    if (transparent ? d[i + 3] > 0 : d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) n++
  }
  return n >= least
}"""


async def open_board(page: Page, ops: int | None = None) -> None:
    view = page.get_by_test_id("board-view")
    await expect(view).to_have_attribute("data-state", "open", timeout=SLOW)
    if ops is not None:
        await settled(page, ops)


async def settled(page: Page, ops: int) -> None:
    view = page.get_by_test_id("board-view")
    await expect(view).to_have_attribute("data-pending", "0", timeout=SLOW)
    await expect(view).to_have_attribute("data-ops", str(ops), timeout=SLOW)


async def drag(page: Page, *points: tuple[int, int], release: bool = True) -> None:
    box = await page.get_by_test_id("board-overlay").bounding_box()
    assert box is not None
    (x0, y0), rest = points[0], points[1:]
    await page.mouse.move(box["x"] + x0, box["y"] + y0)
    await page.mouse.down()
    for x, y in rest:
        await page.mouse.move(box["x"] + x, box["y"] + y, steps=5)
    if release:
        await page.mouse.up()


async def inked(page: Page, least: int) -> None:
    """Until the board shows at least `least` pixels of ink (pictures decode in the
    background, then the board is drawn again)."""
    await page.wait_for_function(INKED, arg=["board-canvas", False, least], timeout=SLOW)


async def test_strokes_appear_live_for_everyone_and_survive_a_restart(
    own_server: Server, make_own_user: OwnUserFactory, open_as: ContextFactory
) -> None:
    alice, bob, carol = (
        await make_own_user("alice"),
        await make_own_user("bob"),
        await make_own_user("carol"),
    )
    room = (await new_room(alice, bob, carol, name="sketches"))["id"]
    path = f"/rooms/{room}/board"
    _, a = await open_as(alice, server=own_server, path=path)
    _, b = await open_as(bob, server=own_server, path=path)
    await open_board(a, 0)
    await open_board(b, 0)

    # Bob sees alice's stroke grow while her pen is still down.
    await a.get_by_test_id("color-d03030").click()
    await a.get_by_test_id("size-8").click()
    await drag(a, (100, 100), (200, 140), (300, 120), (380, 220), release=False)
    await b.wait_for_function(INKED, arg=["board-overlay", True, 50], timeout=SLOW)
    await a.mouse.up()

    # Shapes, text, the eraser, from both sides.
    await a.get_by_test_id("tool-rect").click()
    await drag(a, (450, 80), (600, 200))
    await b.get_by_test_id("tool-ellipse").click()
    await b.get_by_test_id("color-2f62e0").click()
    await drag(b, (150, 300), (350, 420))
    await b.get_by_test_id("tool-arrow").click()
    await drag(b, (500, 400), (700, 300))
    await a.get_by_test_id("tool-text").click()
    await drag(a, (120, 480), (120, 480))
    text = a.get_by_test_id("board-text-input")
    await text.fill("Ship it friday")
    await text.press("Enter")
    await a.get_by_test_id("tool-eraser").click()
    await drag(a, (90, 100), (400, 160))
    for page in (a, b):
        await settled(page, 6)
    await inked(a, 2000)
    picture = await a.evaluate(PIXELS)
    assert await b.evaluate(PIXELS) == picture

    # Alice's pointer shows on bob's board, with her name.
    await a.get_by_test_id("tool-pen").click()
    box = await a.get_by_test_id("board-overlay").bounding_box()
    assert box is not None
    await a.mouse.move(box["x"] + 640, box["y"] + 500, steps=4)
    cursor = b.get_by_test_id("remote-cursor")
    await expect(cursor).to_contain_text(alice.user["display_name"], timeout=SLOW)

    # Carol comes late and sees the same picture.
    _, c = await open_as(carol, server=own_server, path=path)
    await open_board(c, 6)
    assert await c.evaluate(PIXELS) == picture

    # Undo takes alice's last op (the eraser) away for everyone.
    await a.get_by_test_id("board-undo").click()
    for page in (a, b, c):
        await settled(page, 7)
    undone = await a.evaluate(PIXELS)
    assert undone != picture
    assert await b.evaluate(PIXELS) == undone
    assert await c.evaluate(PIXELS) == undone

    own_server.stop()
    for page in (a, b):
        await expect(page.get_by_test_id("board-view")).not_to_have_attribute(
            "data-state", "open", timeout=SLOW
        )
    own_server.start()
    await open_board(a, 7)
    await b.reload()
    await open_board(b, 7)
    assert await a.evaluate(PIXELS) == undone
    assert await b.evaluate(PIXELS) == undone
    # And drawing goes on after the restart.
    await drag(b, (700, 100), (760, 160))
    for page in (a, b):
        await settled(page, 8)
    assert await a.evaluate(PIXELS) == await b.evaluate(PIXELS)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain PNG of one colour (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(raw))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


async def test_a_picture_goes_on_the_board_and_the_board_into_the_room(
    own_server: Server,
    make_own_user: OwnUserFactory,
    open_as: ContextFactory,
    tmp_path: Path,
) -> None:
    alice, bob = await make_own_user("alice"), await make_own_user("bob")
    room = (await new_room(alice, bob, name="pictures"))["id"]
    path = f"/rooms/{room}/board"
    _, a = await open_as(alice, server=own_server, path=path)
    _, b = await open_as(bob, server=own_server, path=path)
    await open_board(a, 0)
    await open_board(b, 0)
    picture = tmp_path / "green.png"
    picture.write_bytes(png(1600, 900, (20, 160, 60)))
    await a.get_by_test_id("board-image").set_input_files(str(picture))
    for page in (a, b):
        await settled(page, 1)
        await inked(page, 50_000)  # the (scaled-down) picture covers much of the board
    assert await b.evaluate(PIXELS) == await a.evaluate(PIXELS)

    await b.get_by_test_id("board-send").click()
    await expect(b.get_by_test_id("board-notice")).to_have_text("Sent to the room.", timeout=SLOW)
    page = await alice.get(f"/api/rooms/{room}/messages")
    sent = page["messages"][-1]
    assert sent["author"] == bob.id
    assert [f["mime"] for f in sent["attachments"]] == ["image/png"]
    # The picture in the room is the board as shown: a PNG of the board canvas's size.
    async with alice.http.get(own_server.url + sent["attachments"][0]["url"]) as resp:
        assert resp.status == 200
        data = await resp.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    size = await b.evaluate(
        "() => { const c = document.querySelector('[data-testid=board-canvas]');"
        " return [c.width, c.height] }"
    )
    assert list(struct.unpack(">II", data[16:24])) == size


@pytest.mark.parametrize("video", [True, False], ids=["video-call", "audio-only-call"])
async def test_the_board_is_shown_in_a_running_call(
    own_server: Server, make_own_user: OwnUserFactory, open_as: ContextFactory, video: bool
) -> None:
    alice, bob = await make_own_user("alice"), await make_own_user("bob")
    room = (await new_room(alice, bob, name="standup"))["id"]
    _, a = await open_as(alice, server=own_server, path=f"/rooms/{room}")
    _, b = await open_as(bob, server=own_server, path=f"/rooms/{room}")
    # A call with cameras or without (the board joins it as a picture, as a shared screen
    # does; without cameras it is the connection's first video).
    start = "call-start-video" if video else "call-start"
    await a.get_by_test_id("room-view").get_by_test_id(start).click()
    ring = b.get_by_test_id("ring-overlay")
    await expect(ring).to_be_visible(timeout=SLOW)
    await ring.get_by_test_id("ring-accept-video" if video else "ring-accept-audio").click()
    for page in (a, b):
        await expect(page.get_by_test_id("call-panel")).to_have_attribute(
            "data-participants", "2", timeout=SLOW
        )

    # Alice opens the board from the room (the call goes on) and shows it in the call.
    await a.get_by_test_id("room-board-button").click()
    await open_board(a, 0)
    await drag(a, (100, 100), (300, 200))
    await settled(a, 1)
    await a.get_by_test_id("board-share").click()
    await expect(a.get_by_test_id("board-notice")).to_have_text("The board is shown in the call.")
    tile = b.get_by_test_id("call-panel").locator(
        f'[data-testid="call-tile"][data-local="no"][data-user="{alice.id}"][data-role="screen"]'
    )
    await expect(tile).to_have_count(1, timeout=SLOW)
    await drag(a, (300, 200), (500, 120))  # drawing goes on while it is shown
    handle = await tile.element_handle()
    await b.wait_for_function("(el) => Number(el.dataset.frames) > 0", arg=handle, timeout=30_000)
    # Nobody draws now, and the picture still flows (else a late joiner or a lost keyframe
    # would see a black tile until the next stroke).
    idle_from = int(await handle.get_attribute("data-frames") or 0)
    await b.wait_for_function(
        "([el, n]) => Number(el.dataset.frames) >= n + 5", arg=[handle, idle_from], timeout=30_000
    )
    # Bob sees the board whole: a picture of the size of alice's board canvas.
    shown = await b.evaluate(
        "(el) => { const v = el.querySelector('video'); return [v.videoWidth, v.videoHeight] }",
        handle,
    )
    drawn = await a.evaluate(
        "() => { const c = document.querySelector('[data-testid=board-canvas]');"
        " return [c.width, c.height] }"
    )
    assert shown == drawn
