"""Hostile images (issue 13, item 2): tiny files declaring huge images, many frames,
decompression bombs. Each gets a clear answer (a stored file, or an error that says why),
never a 500 or a hang; the server stays healthy and ordinary photos keep their
thumbnails. Memory is measured by `bench/image_rss.py`, not here."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable

import pytest
from PIL import Image

from tests.client import Client
from tests.conftest import People, UserFactory, people_on
from tests.integration.image_corpus import (
    gif_huge_screen,
    gif_many_frames,
    jpeg_photo,
    png_bomb,
    truncated_jpeg,
    webp_huge_canvas,
)
from tests.integration.test_avatars import put_avatar
from tests.integration.uploading import fetch, send_upload, temp_files, upload
from tests.server import Server

# name -> (the bytes, the replies it may get)
CORPUS: dict[str, tuple[Callable[[], bytes], set[int]]] = {
    "png-7000x7000-rgba-zeros.png": (lambda: png_bomb("RGBA", 7000), {201}),
    "png-7000x7000-1bit.png": (lambda: png_bomb("1", 7000), {201}),
    "png-20000x20000-1bit.png": (lambda: png_bomb("1", 20000), {413}),
    # Pillow fills in what a cut JPEG lacks; the thumbnail is decoded at 1/8 scale.
    "jpeg-cut-7000x7000.jpg": (lambda: truncated_jpeg(7000, progressive=False), {201, 400}),
    "jpeg-cut-progressive.jpg": (lambda: truncated_jpeg(7000, progressive=True), {201, 400}),
    "gif-65535-screen.gif": (gif_huge_screen, {413}),
    "gif-40-frames.gif": (lambda: gif_many_frames((1000, 400), 40), {201}),
    "webp-16384-canvas.webp": (webp_huge_canvas, {413}),
}


async def healthy(client: Client) -> None:
    """The server answers, and an ordinary photo is stored upright with its thumbnail."""
    status, _, _ = await fetch(client, "/api/health")
    assert status == 200
    sent = await upload(client, jpeg_photo((300, 200)), name="IMG_1.jpg")
    assert (sent["width"], sent["height"]) == (200, 300) and sent["thumb_url"]
    status, thumb, _ = await fetch(client, sent["thumb_url"])
    assert status == 200 and Image.open(io.BytesIO(thumb)).size == (200, 300)


def assert_clear(status: int, body: dict, allowed: set[int], what: str) -> None:
    assert status in allowed, (what, status, body)
    if status >= 400:
        error = body["error"]
        assert error["code"] in ("bad_request", "too_large", "rate_limited"), (what, body)
        assert error["message"] and "went wrong" not in error["message"], (what, body)


async def test_each_hostile_image_gets_a_clear_answer_and_the_server_stays_healthy(
    server: Server, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    for name, (make, allowed) in CORPUS.items():
        status, body = await send_upload(alice, make(), name=name)
        assert_clear(status, body, allowed, name)
        if status == 413:
            assert "pixels" in body["error"]["message"], body
        if status == 201 and name.endswith(".png"):
            # Within the pixel cap: stored as an image with a small thumbnail.
            assert body["upload"]["mime"] == "image/png" and body["upload"]["thumb_url"]
    await healthy(alice)
    assert temp_files(server) == []  # no half-made copy or thumbnail stays behind


async def test_bombs_sent_at_once_each_get_an_answer(
    server: Server, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bomb = png_bomb("RGBA", 7000)
    replies = await asyncio.gather(
        *(send_upload(alice, bomb, name=f"bomb{i}.png") for i in range(5))
    )
    for status, body in replies:
        # Stored, or told to try again when more wait than the decoder queues.
        assert_clear(status, body, {201, 429}, "a bomb among five")
    assert any(status == 201 for status, _ in replies)
    await healthy(alice)
    assert temp_files(server) == []


async def test_a_48_megapixel_phone_photo_gets_its_thumbnail(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    sent = await upload(alice, jpeg_photo((8000, 6000)), name="IMG_48MP.jpg")
    assert (sent["width"], sent["height"]) == (6000, 8000)  # turned upright
    status, thumb, _ = await fetch(alice, sent["thumb_url"])
    assert status == 200 and Image.open(io.BytesIO(thumb)).size == (600, 800)
    status, body, _ = await fetch(alice, sent["url"])
    served = Image.open(io.BytesIO(body))
    assert served.size == (6000, 8000) and dict(served.getexif()) == {}


@pytest.fixture
async def small_cap(make_server: Callable[..., Server]) -> AsyncIterator[People]:
    srv = make_server({"PYCHAT_UPLOADS_IMAGE_MAX_PIXELS": "2000000"})
    async for make in people_on(srv.url):
        yield make


async def test_the_pixel_cap_is_a_setting(small_cap: People) -> None:
    alice = await small_cap("alice")
    status, body = await send_upload(alice, png_bomb("RGBA", 1400), name="ok.png")
    assert status == 201, body  # 1.96 megapixels
    for name, data in {
        "big.png": png_bomb("RGBA", 1500),
        "big.jpg": jpeg_photo((1500, 1500)),
        "big.gif": gif_many_frames((1500, 1500), 2),
    }.items():
        status, body = await send_upload(alice, data, name=name)
        assert status == 413 and "2,000,000 pixels" in body["error"]["message"], (name, body)
        status, body = await put_avatar(alice, "/api/me/avatar", data)
        assert status == 413 and "2,000,000 pixels" in body["error"]["message"], (name, body)
    await healthy(alice)


@pytest.fixture
async def low_memory(make_server: Callable[..., Server]) -> AsyncIterator[People]:
    """Decodes may use 160 MiB, the pixel cap stays: memory is the limit that is hit."""
    srv = make_server({"PYCHAT_UPLOADS_IMAGE_DECODE_BYTES": str(160 << 20)})
    async for make in people_on(srv.url):
        yield make


async def test_a_decode_over_its_memory_gets_a_clear_error_and_the_server_carries_on(
    low_memory: People,
) -> None:
    alice = await low_memory("alice")
    bomb = png_bomb("RGBA", 7000)  # 190 KB that decode to 49 megapixels (~190 MiB)
    status, body = await send_upload(alice, bomb, name="bomb.png")
    assert status == 413 and body["error"]["code"] == "too_large", body
    assert "memory" in body["error"]["message"]
    # Profile pictures are decoded the same way.
    status, body = await put_avatar(alice, "/api/me/avatar", bomb)
    assert status == 413 and "memory" in body["error"]["message"], body
    await healthy(alice)
    status, body = await put_avatar(alice, "/api/me/avatar", jpeg_photo((600, 600)))
    assert status == 200 and body["user"]["avatar_url"], body
