"""Firefox lays the composer out inside the screen: in a thread on a desktop and in the room
on a phone, the Send button is on screen and the page never scrolls sideways. (Firefox
gives a textarea a wide minimum size as a flex item; Chromium hid the bug.)"""

from __future__ import annotations

from tests.conftest import UserFactory, new_room
from tests.firefox.conftest import FirefoxOpener
from tests.firefox.driver import Tab

# Every visible Send button's right edge, the window's width, and how far the page scrolls.
MEASURE = """() => ({
  sends: [...document.querySelectorAll('[data-testid="composer-send"]')]
    .filter((b) => b.checkVisibility())
    .map((b) => Math.round(b.getBoundingClientRect().right)),
  width: document.documentElement.clientWidth,
  scrolls: document.documentElement.scrollWidth - document.documentElement.clientWidth,
})"""


async def measure(tab: Tab, sends: int) -> dict[str, object]:
    layout = await tab.wait(
        f"() => {{ const m = ({MEASURE})(); return m.sends.length === {sends} ? m : null }}",
        what=f"{sends} Send buttons shown",
    )
    assert isinstance(layout, dict)
    return layout


async def test_the_composer_stays_on_screen_in_a_thread_and_on_a_phone(
    firefox_as: FirefoxOpener, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    rid = (await new_room(alice, name="ff-layout"))["id"]
    sock = await alice.connect()
    root = await sock.send_message(rid, "a question worth a thread")
    await sock.send_message(rid, "a reply", thread=root["id"])

    # Desktop, a thread open beside the room: two composers, both Send buttons on screen.
    tab = await firefox_as(alice, path=f"/rooms/{rid}?thread={root['id']}")
    await tab.wait(
        '() => document.querySelector(\'[data-testid="thread-panel"]'
        ' [data-testid="composer-input"]\')',
        what="the thread's composer",
    )
    desk = await measure(tab, 2)
    assert all(right <= desk["width"] for right in desk["sends"]), desk  # type: ignore[attr-defined]
    assert desk["scrolls"] == 0, desk

    # A phone: the room's composer fits the screen.
    await tab.set_viewport(390, 844)
    await tab.goto(f"{tab_origin(await tab.url())}/rooms/{rid}")
    phone = await measure(tab, 1)
    assert all(right <= phone["width"] for right in phone["sends"]), phone  # type: ignore[attr-defined]
    assert phone["scrolls"] == 0, phone


def tab_origin(url: str) -> str:
    scheme, rest = url.split("//", 1)
    return f"{scheme}//{rest.split('/', 1)[0]}"
