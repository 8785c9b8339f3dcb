"""Profile and room pictures: made into small WebPs, announced to others, removable."""

from __future__ import annotations

import io

from PIL import Image

from tests.client import Client
from tests.conftest import UserFactory, new_room
from tests.integration.uploading import fetch, send_upload


def square_jpeg(colour: str = "orange", size: int = 600) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, "JPEG")
    return buf.getvalue()


async def put_avatar(client: Client, path: str, data: bytes) -> tuple[int, dict]:
    return await send_upload(
        client, data, name="me.jpg", content_type="image/jpeg", path=path, method="PUT"
    )


async def test_profile_picture_is_set_shown_to_others_and_removed(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await new_room(alice, bob)
    watcher = await bob.connect()
    assert (await alice.get("/api/me"))["user"]["avatar_url"] is None

    status, body = await put_avatar(alice, "/api/me/avatar", square_jpeg())
    assert status == 200, body
    url = body["user"]["avatar_url"]
    assert url.startswith("/api/avatars/") and url.endswith(".webp")
    event = await watcher.event("user.update", timeout=10)
    assert event["data"]["user"]["avatar_url"] == url
    assert (await bob.get(f"/api/users/{alice.id}"))["user"]["avatar_url"] == url

    status, data, headers = await fetch(bob, url)  # any signed-in user may see it
    assert status == 200 and headers["Content-Type"] == "image/webp"
    assert "immutable" in headers["Cache-Control"]
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "WEBP" and picture.size == (256, 256)
    anonymous = Client(alice.base_url)
    try:
        assert (await fetch(anonymous, url))[0] == 401
    finally:
        await anonymous.close()

    status, body = await alice.call("DELETE", "/api/me/avatar")
    assert status == 200 and body["user"]["avatar_url"] is None
    assert (await fetch(bob, url))[0] == 404  # nobody uses it: gone


async def test_a_picture_must_be_an_image_of_reasonable_size(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status, body = await put_avatar(alice, "/api/me/avatar", b"<svg>not a picture</svg>")
    assert status == 400 and "PNG, JPEG" in body["error"]["message"]
    status, body = await put_avatar(alice, "/api/me/avatar", b"\xff" * (10 << 20 | 1))
    assert status == 413 and body["error"]["code"] == "too_large"
    assert (await alice.get("/api/me"))["user"]["avatar_url"] is None
    # A wide picture is cropped to its centre.
    buf = io.BytesIO()
    Image.new("RGB", (900, 300), "teal").save(buf, "PNG")
    status, body = await put_avatar(alice, "/api/me/avatar", buf.getvalue())
    assert status == 200
    _, data, _ = await fetch(alice, body["user"]["avatar_url"])
    assert Image.open(io.BytesIO(data)).size == (256, 256)
    assert (await fetch(alice, "/api/avatars/pychat.db"))[0] == 404
    assert (await fetch(alice, "/api/avatars/" + "0" * 64 + ".webp"))[0] == 404


async def test_room_picture_by_owners_only(make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room = await new_room(alice, bob)
    watcher = await bob.connect()
    path = f"/api/rooms/{room['id']}/avatar"

    status, body = await put_avatar(bob, path, square_jpeg("purple"))
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body = await put_avatar(carol, path, square_jpeg("purple"))
    assert status == 404  # not a member: the room does not exist for her

    status, body = await put_avatar(alice, path, square_jpeg("purple"))
    assert status == 200, body
    url = body["room"]["avatar_url"]
    assert url and url.startswith("/api/avatars/")
    event = await watcher.event("room.update", room=room["id"])
    assert event["data"]["room"]["avatar_url"] == url
    listed = {r["id"]: r for r in (await bob.get("/api/rooms"))["rooms"]}
    assert listed[room["id"]]["avatar_url"] == url

    status, body = await bob.call("DELETE", path)
    assert status == 403
    status, body = await alice.call("DELETE", path)
    assert status == 200 and body["room"]["avatar_url"] is None

    direct = await new_room(alice, bob, kind="direct")
    status, body = await put_avatar(alice, f"/api/rooms/{direct['id']}/avatar", square_jpeg())
    assert status == 409


async def test_same_picture_for_two_users_survives_one_removal(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    same = square_jpeg("olive")
    _, a = await put_avatar(alice, "/api/me/avatar", same)
    _, b = await put_avatar(bob, "/api/me/avatar", same)
    assert a["user"]["avatar_url"] == b["user"]["avatar_url"]
    await alice.call("DELETE", "/api/me/avatar")
    assert (await fetch(alice, b["user"]["avatar_url"]))[0] == 200
