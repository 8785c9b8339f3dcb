"""A new owner walks the first-boot wizard in a real browser, then lands in the app."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.async_api import expect

from tests.e2e.conftest import Contexts, screenshot_path
from tests.server import Server

PASSWORD = "owner-password-1"


# The text of each line an element is rendered on (characters grouped by their line's top).
RENDERED_LINES = """(element) => {
  const lines = [];
  let lastTop = null;
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const top = Math.round(range.getBoundingClientRect().top);
      if (top !== lastTop) { lines.push(""); lastTop = top; }
      lines[lines.length - 1] += node.data[i];
    }
  }
  return lines;
}"""


def _claim(srv: Server) -> str:
    return (srv.data / "claim-code.txt").read_text().strip()


async def test_the_owner_claims_sets_up_and_signs_in(
    make_server: Callable[..., Server], contexts: Contexts
) -> None:
    srv = make_server(setup=False)
    context = await contexts.new(srv, None, None)
    page = await context.new_page()

    await page.goto("/rooms/1")
    await expect(page).to_have_url(f"{srv.url}/setup")
    await page.screenshot(path=screenshot_path("wizard-claim"))
    await page.get_by_label("Claim code").fill("AAAA-AAAA")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("alert")).to_contain_text("not the claim code")

    await page.get_by_label("Claim code").fill(_claim(srv).lower())
    await page.get_by_role("button", name="Continue").click()
    await expect(page).to_have_url(f"{srv.url}/setup/organisation")
    await page.get_by_label("Organisation name").fill("Acme Ltd")
    await page.get_by_label("Admin username").fill("boss")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Password again").fill(PASSWORD + "typo")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("alert")).to_have_text("The two passwords differ.")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Password again").fill(PASSWORD)
    await page.get_by_role("button", name="Continue").click()

    await expect(page).to_have_url(f"{srv.url}/setup/device")
    await page.get_by_label("Device name").fill("acme-chat")
    await page.get_by_role("button", name="Continue").click()

    await expect(page).to_have_url(f"{srv.url}/setup/security")
    await expect(page.locator(".fingerprint")).to_have_text(
        re.compile(r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
    )
    # It wraps, and only between byte pairs: every line but the last ends with a colon.
    lines = await page.locator(".fingerprint").evaluate(RENDERED_LINES)
    assert len(lines) > 1, lines
    assert all(re.fullmatch(r"([0-9A-F]{2}:)+", line) for line in lines[:-1]), lines
    assert re.fullmatch(r"([0-9A-F]{2}:)*[0-9A-F]{2}", lines[-1]), lines
    # Finished steps read as done, not struck out.
    done_steps = page.locator(".progress .done")
    await expect(done_steps).to_have_count(2)
    for i in range(2):
        await expect(done_steps.nth(i)).to_have_css("text-decoration-line", "none")
        await expect(done_steps.nth(i)).to_contain_text("(done)")
    await page.screenshot(path=screenshot_path("wizard-security"), full_page=True)
    await page.get_by_role("button", name="Continue").click()

    await expect(page).to_have_url(f"{srv.url}/setup/access")
    await page.get_by_label("With an invite link").check()
    await page.get_by_role("button", name="Finish setup").click()

    await expect(page).to_have_url(f"{srv.url}/setup/done")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Acme Ltd is ready")
    invite = await page.get_by_label("Invite link").input_value()
    assert "/register?invite=" in invite
    await page.screenshot(path=screenshot_path("wizard-done"), full_page=True)

    # Into the app, already signed in as the new admin.
    await page.get_by_role("link", name=f"{srv.url}/").click()
    await expect(page.get_by_test_id("current-user")).to_contain_text("boss")

    # The wizard never runs again.
    await page.goto("/setup")
    await expect(page.get_by_test_id("current-user")).to_contain_text("boss")
    assert "/setup" not in page.url


async def test_guessing_the_claim_code_is_throttled(
    make_server: Callable[..., Server], contexts: Contexts
) -> None:
    srv = make_server(setup=False)
    page = await (await contexts.new(srv, {"width": 390, "height": 844}, "dark")).new_page()
    await page.goto("/setup")
    for _ in range(5):
        await page.get_by_label("Claim code").fill("AAAA-AAAA")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_role("alert")).to_contain_text("not the claim code")
    await page.get_by_label("Claim code").fill(_claim(srv))
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("alert")).to_contain_text("Too many wrong codes")
    await page.screenshot(path=screenshot_path("wizard-throttled-phone-dark"))
