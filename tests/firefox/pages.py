"""Selectors and waits for the app in a Firefox tab (the Playwright helpers' counterparts)."""

from __future__ import annotations

from tests.firefox.driver import Tab


def tid(*ids: str) -> str:
    """A CSS selector for nested data-testid values."""
    return " ".join(f'[data-testid="{i}"]' for i in ids)


ROOM = tid("room-view")
COMPOSER = tid("room-view", "composer-input")
ROOM_LIST = tid("room-view", "message-list")

# The room timeline's stored message bodies (text content: rows may skip rendering).
BODIES = """(list) => [...document.querySelectorAll(list + ' article[data-message-id]'
  + ' [data-testid="message-body"]')].map((b) => b.textContent.trim())"""


async def open_room(tab: Tab, room_id: int) -> None:
    await tab.click(tid(f"room-link-{room_id}"))
    await tab.wait(
        "(id) => document.querySelector('[data-testid=\"room-view\"]')?.dataset.roomId === id",
        str(room_id),
        what=f"room {room_id} is open",
    )


async def bodies(tab: Tab) -> list[str]:
    return list(await tab.call(BODIES, ROOM_LIST))


async def wait_for_message(tab: Tab, text: str, *, timeout: float = 20) -> None:
    await tab.wait(
        f"(list, text) => ({BODIES})(list).some((b) => b.includes(text))",
        ROOM_LIST,
        text,
        what=f"the message {text!r} is shown",
        timeout=timeout,
    )


async def send(tab: Tab, text: str) -> None:
    """Types into the room's composer and presses Enter; returns once it is stored."""
    await tab.type(COMPOSER, text, enter=True)
    await wait_for_message(tab, text)
