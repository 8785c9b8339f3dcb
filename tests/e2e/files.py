"""Page scripts and helpers of the file tests: files made in the page and handed over as a
drop or a paste would, waits for images to load, the stored attachments of a room."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.client import Client
from tests.e2e.helpers import SLOW

# A PNG drawn in the page (a coloured frame around a white square), handed over as a File in
# a DataTransfer: what a drop from the desktop or a paste of a screenshot gives the page.
_MAKE_FILE = """
async function makePng(name, width, height, color) {
  const canvas = document.createElement('canvas')
  canvas.width = width
  canvas.height = height
  const g = canvas.getContext('2d')
  g.fillStyle = color
  g.fillRect(0, 0, width, height)
  g.fillStyle = '#ffffff'
  g.fillRect(width / 4, height / 4, width / 2, height / 2)
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'))
  return new File([blob], name, { type: 'image/png' })
}
"""

DROP_IMAGE = (
    "async ([name, width, height, color]) => {"
    + _MAKE_FILE
    + """
  const data = new DataTransfer()
  data.items.add(await makePng(name, width, height, color))
  const target = document.querySelector('[data-testid=room-view] [data-testid=message-list]')
  const init = { bubbles: true, cancelable: true, dataTransfer: data }
  target.dispatchEvent(new DragEvent('dragover', init))
  target.dispatchEvent(new DragEvent('drop', init))
}"""
)

DRAG_OVER = """() => {
  const data = new DataTransfer()
  data.items.add(new File(['x'], 'x.txt', { type: 'text/plain' }))
  const target = document.querySelector('[data-testid=room-view] [data-testid=message-list]')
  const init = { bubbles: true, cancelable: true, dataTransfer: data }
  target.dispatchEvent(new DragEvent('dragover', init))
}"""

PASTE_IMAGE = (
    "async ([name, width, height, color, text]) => {"
    + _MAKE_FILE
    + """
  const data = new DataTransfer()
  if (text) data.setData('text/plain', text)
  data.items.add(await makePng(name, width, height, color))
  const box = document.querySelector('[data-testid=room-view] [data-testid=composer-input]')
  box.focus()
  const init = { bubbles: true, cancelable: true, clipboardData: data }
  box.dispatchEvent(new ClipboardEvent('paste', init))
}"""
)

CACHED_URLS = """async () => {
  const urls = []
  for (const name of await caches.keys()) {
    for (const request of await (await caches.open(name)).keys()) urls.push(request.url)
  }
  return urls
}"""

IMAGE_LOADED = "(img) => img.complete && img.naturalWidth > 0"


def a_pdf(pages: int = 1) -> bytes:
    """A small valid PDF (the server judges the type from the bytes)."""
    body = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    body += b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    body += b"% padding " + b"x" * 1200 * pages + b"\n"
    return body + b"trailer << /Root 1 0 R >>\n%%EOF\n"


async def wait_until_loaded(page: Page, img: Any) -> None:
    handle = await img.element_handle()
    await page.wait_for_function(IMAGE_LOADED, arg=handle, timeout=SLOW)


async def composer_uploads_done(page: Page, count: int) -> None:
    cards = page.get_by_test_id("room-view").get_by_test_id("composer-files")
    await expect(cards.get_by_test_id("upload-card")).to_have_count(count)
    for i in range(count):
        card = cards.get_by_test_id("upload-card").nth(i)
        await expect(card).to_have_attribute("data-state", "done", timeout=SLOW)


async def stored_attachments(client: Client, room_id: int) -> list[list[dict[str, Any]]]:
    page = await client.get(f"/api/rooms/{room_id}/messages?limit=50")
    return [m["attachments"] for m in page["messages"]]
