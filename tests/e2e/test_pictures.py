"""Profile and room pictures: chosen, cropped square in the browser, and seen by others."""

from __future__ import annotations

import io

from playwright.async_api import Locator, Page, expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory, screenshot_path
from tests.e2e.files import wait_until_loaded
from tests.e2e.helpers import SLOW, message, open_room, room_list, send


def a_photo(width: int, height: int) -> bytes:
    """A PNG with a red left half and a blue right half: the crop decides what shows."""
    from PIL import Image

    image = Image.new("RGB", (width, height), (220, 30, 30))
    image.paste((30, 60, 220), (width // 2, 0, width, height))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def crop_and_save(page: Page, scope: Locator, photo: bytes, name: str) -> None:
    await scope.get_by_test_id("avatar-file-input").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": photo}
    )
    canvas = scope.get_by_test_id("avatar-crop-canvas")
    await expect(canvas).to_be_visible()
    # Zoom in with the keyboard, then drag the picture right: the red half fills the frame.
    await canvas.focus()
    await canvas.press("+")
    await canvas.press("+")
    box = await canvas.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + 100, box["y"] + 140)
    await page.mouse.down()
    await page.mouse.move(box["x"] + 270, box["y"] + 140, steps=5)
    await page.mouse.up()
    await page.screenshot(path=screenshot_path(f"uploads-cropper-{name}"))
    await scope.get_by_test_id("avatar-crop-save").click()
    picture = scope.get_by_test_id("avatar-image")
    await expect(picture).to_be_visible(timeout=SLOW)
    await wait_until_loaded(page, picture)


async def test_profile_and_room_pictures_are_cropped_and_shown_to_others(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    from PIL import Image

    alice = await make_user("alice")
    bob = await make_user("bob")
    rid = (await new_room(alice, bob, name="faces"))["id"]
    _, alice_page = await open_as(alice, path="/settings")
    _, bob_page = await open_as(bob)
    await open_room(bob_page, rid)

    editor = alice_page.get_by_test_id("avatar-editor")
    await crop_and_save(alice_page, editor, a_photo(600, 400), "profile")
    me = (await alice.get("/api/me"))["user"]
    assert me["avatar_url"], me
    async with alice.http.get(alice.base_url + me["avatar_url"]) as response:
        assert response.status == 200
        body = await response.read()
    picture = Image.open(io.BytesIO(body))
    assert picture.size == (256, 256)
    # Dragged right after zooming: the left (red) half of the photo fills the square.
    red, _, blue = picture.convert("RGB").getpixel((128, 128))  # type: ignore[misc]
    assert red > 150 and blue < 100, (red, blue)

    # Bob sees it next to alice's message, live (user.update).
    await alice_page.goto(f"/rooms/{rid}")
    await send(alice_page, "new picture")
    avatar = message(room_list(bob_page), "new picture").locator("img.avatar")
    await expect(avatar).to_have_attribute("src", me["avatar_url"], timeout=SLOW)
    await wait_until_loaded(bob_page, avatar)

    # The room's picture, set by its owner in room settings, shows in bob's sidebar.
    await alice_page.get_by_test_id("room-settings-button").click()
    dialog = alice_page.get_by_test_id("room-settings-dialog")
    await crop_and_save(alice_page, dialog, a_photo(300, 500), "room")
    sidebar_picture = bob_page.get_by_test_id(f"room-link-{rid}").get_by_test_id("avatar-image")
    await expect(sidebar_picture).to_be_visible(timeout=SLOW)
    await wait_until_loaded(bob_page, sidebar_picture)
    await bob_page.screenshot(path=screenshot_path("uploads-avatars"))
