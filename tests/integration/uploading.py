"""Helpers for the upload tests: multipart uploads as a browser sends them, files on disk."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from tests.client import Client
from tests.server import ADMIN_PASSWORD, Server


async def send_upload(
    client: Client,
    data: bytes,
    *,
    name: str = "file.bin",
    content_type: str = "application/octet-stream",
    duration_ms: int | None = None,
    path: str = "/api/uploads",
    method: str = "POST",
) -> tuple[int, Any]:
    # quote_fields=False: the file name goes raw, as browsers send it.
    form = aiohttp.FormData(quote_fields=False)
    if duration_ms is not None:
        form.add_field("duration_ms", str(duration_ms))
    form.add_field("file", data, filename=name, content_type=content_type)
    async with client.http.request(method, client.base_url + path, data=form) as resp:
        return resp.status, await resp.json()


async def upload(client: Client, data: bytes, **kw: Any) -> dict[str, Any]:
    status, body = await send_upload(client, data, **kw)
    assert status == 201, (status, body)
    return body["upload"]  # type: ignore[no-any-return]


async def fetch(client: Client, url: str, **kw: Any) -> tuple[int, bytes, Any]:
    async with client.http.get(client.base_url + url, **kw) as resp:
        return resp.status, await resp.read(), resp.headers


async def admin_of(server: Server) -> Client:
    client = Client(server.url)
    return await client.login("admin", ADMIN_PASSWORD)


def stored_blobs(server: Server) -> list[Path]:
    """Every stored file (blob) in the server's data folder, thumbnails and temp excluded."""
    root = server.data / "files"
    return sorted(
        p
        for p in root.glob("*/*")
        if p.is_file() and p.parent.name not in ("tmp", "thumbs", "avatars")
    )


def temp_files(server: Server) -> list[Path]:
    folder = server.data / "files" / "tmp"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def png(size: tuple[int, int] = (64, 48), color: str = "red", **save: Any) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG", **save)
    return buf.getvalue()


def webm_like(size: int) -> bytes:
    """Bytes that start like a WebM (EBML) file, then deterministic filler."""
    head = b"\x1a\x45\xdf\xa3" + b"\x00" * 12
    body = bytes((i * 7 + i // 251) % 256 for i in range(size - len(head)))
    return head + body
