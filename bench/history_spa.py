"""The web app holding 10,000 messages of one room (bench/history.py --spa).

Debian's Chromium through Playwright, signed in as the bench user, opens room `tenk` and
scrolls up by script (a fixed step every animation frame, as a flick would) until 10,000
messages have arrived (counted from the history responses), then scrolls back down
through all of them with nothing left to load. For each phase: frames per second and the
frames longer than 25 ms and 50 ms; afterwards the JS heap after a garbage collection
(CDP Performance.getMetrics JSHeapUsedSize), the DOM's nodes and the message rows in it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright

CHROMIUM = Path("/usr/lib/chromium/chromium")
TARGET = 10_000
STEP_PX = 300  # scrolled per frame

# Scrolls `el` by `step` px a frame for at most `ms`, or until window.__stop; returns the
# frame intervals. Runs in the page.
SCROLL_JS = """async ([step, ms]) => {
  const el = document.querySelector('.timeline')
  const gaps = []
  let last = performance.now()
  const end = last + ms
  window.__stop = false
  await new Promise((done) => {
    const frame = (now) => {
      gaps.push(now - last)
      last = now
      el.scrollTop += step
      if (now > end || window.__stop) return done()
      requestAnimationFrame(frame)
    }
    requestAnimationFrame(frame)
  })
  return gaps
}"""


def frames(label: str, gaps: list[float]) -> str:
    if not gaps:
        return f"  {label}: no frames"
    total = sum(gaps) / 1000
    fps = len(gaps) / total
    long25 = sum(g > 25 for g in gaps)
    long50 = sum(g > 50 for g in gaps)
    worst = max(gaps)
    return (
        f"  {label:<38} {fps:5.1f} fps over {total:5.1f} s ({len(gaps)} frames),"
        f" {long25} > 25 ms, {long50} > 50 ms, worst {worst:.0f} ms"
    )


async def heap(page: Page) -> dict[str, float]:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("HeapProfiler.enable")
    await cdp.send("HeapProfiler.collectGarbage")
    await cdp.send("Performance.enable")
    metrics = await cdp.send("Performance.getMetrics")
    return {m["name"]: m["value"] for m in metrics["metrics"]}


async def run(base: str, meta: dict[str, Any], password: str, minutes: float) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            login = {"username": meta["bench_user"], "password": password}
            r = await context.request.post(f"{base}/api/auth/login", data=login)
            assert r.ok, await r.text()
            page = await context.new_page()
            loaded = 0
            room = meta["tenk"]

            async def on_response(response: Any) -> None:
                nonlocal loaded
                if f"/api/rooms/{room}/messages" in response.url and response.ok:
                    loaded += len((await response.json())["messages"])

            page.on("response", on_response)
            await page.goto(f"{base}/rooms/{room}")
            await page.wait_for_selector(".timeline [data-message-id]", timeout=60_000)
            before = await heap(page)
            print(f"\nweb app, room tenk ({TARGET:,} messages), 1280x900, Debian Chromium")
            used = before["JSHeapUsedSize"] / 1e6
            print(f"  opened: {loaded} loaded, JS heap {used:.1f} MB, {int(before['Nodes'])} nodes")
            up: list[float] = []
            start = time.monotonic()
            while loaded < TARGET and time.monotonic() - start < minutes * 60:
                before_slice = loaded
                gaps = await page.evaluate(SCROLL_JS, [-STEP_PX, 10_000])
                if loaded == before_slice:  # at the room's first message
                    print(frames("at the top, nothing left to load", gaps))
                    break
                up += gaps
                rows = await page.locator(".timeline [data-message-id]").count()
                print(
                    f"    {time.monotonic() - start:5.0f} s: {loaded:,} loaded,"
                    f" {rows} rows in the DOM, {len(up)} frames",
                    flush=True,
                )
            took = time.monotonic() - start
            print(f"  scrolled up for {took:.0f} s: {loaded:,} messages loaded")
            print(frames("scrolling up (loading pages)", up))
            down: list[float] = []
            for _ in range(20):
                down += await page.evaluate(SCROLL_JS, [STEP_PX, 3000])
                at_end = await page.evaluate(
                    "() => { const el = document.querySelector('.timeline');"
                    " return el.scrollHeight - el.scrollTop - el.clientHeight < 2 }"
                )
                if at_end and len(down) > 300:
                    break
            print(frames("scrolling down (all loaded)", down))
            after = await heap(page)
            rows = await page.locator(".timeline [data-message-id]").count()
            grown = after["JSHeapUsedSize"] / 1e6 - used
            used = after["JSHeapUsedSize"] / 1e6
            print(
                f"  after: JS heap {used:.1f} MB (+{grown:.1f} MB"
                f" for {loaded:,} messages), {int(after['Nodes'])} DOM nodes,"
                f" {rows} message rows in the DOM"
            )
        finally:
            await browser.close()


def measure_spa(base: str, meta: dict[str, Any], password: str, minutes: float) -> None:
    """At most `minutes` of scrolling up (it says how far it got)."""
    asyncio.run(run(base, meta, password, minutes))
