"""REST: uploading and serving files, profile and room pictures (docs/api/uploads.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, hdrs, web
from multidict import CIMultiDict

from ..chat import avatars, uploads
from ..errors import BadRequest
from ..files.kinds import serving_headers
from ..state.app_keys import SERVICES
from . import multipart
from . import schemas as s
from .api_accounts import _path_id
from .middleware import require_session

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

MULTIPART_OVERHEAD = 8192  # boundaries and part headers around the file, at most
# no-cache: every use asks the server (a cheap 304 by ETag), so a later user of the same
# browser never reads a file from the cache that the server would not give them.
FILE_CACHE = "private, no-cache"
AVATAR_CACHE = "private, max-age=31536000, immutable"


async def _small_text(part: BodyPartReader, limit: int) -> str:
    data = bytearray()
    async for chunk in multipart.chunks(part):
        data += chunk
        if len(data) > limit:
            raise BadRequest(f"{part.name} is too long.")
    return data.decode("utf-8", "replace")


def _duration(raw: str) -> int:
    value = s.ascii_int(raw.strip(), 12)
    if value is None:
        raise BadRequest("duration_ms must be a whole number of milliseconds.")
    return value


async def _file_part(request: web.Request, extras: dict[str, str]) -> BodyPartReader:
    """The `file` part, after any small fields listed in `extras` (their text goes there)."""
    async for part in multipart.parts(request):
        name = part.name or ""
        if name == "file":
            return part
        if name not in extras or extras[name]:
            raise BadRequest(f"Unexpected field: {name[:64]}. Send `file` last.")
        extras[name] = await _small_text(part, 64) or " "
    raise BadRequest("Send the file in a field named `file`.")


@routes.post("/api/uploads")
async def upload(request: web.Request) -> web.Response:
    session = await require_session(request)
    svc = request.app[SERVICES]
    extras = {"duration_ms": ""}
    part = await _file_part(request, extras)
    length = request.content_length
    upload = await uploads.receive(
        svc,
        session.user_id,
        multipart.chunks(part),
        name=part.filename,
        declared_type=part.headers.get(hdrs.CONTENT_TYPE, ""),
        duration_ms=_duration(extras["duration_ms"]) if extras["duration_ms"] else None,
        announced_bytes=max(0, length - MULTIPART_OVERHEAD) if length else None,
    )
    return web.json_response({"upload": upload}, status=201)


class _BlobResponse(web.FileResponse):
    """aiohttp's FileResponse (sendfile, Range, 206/416) with the content hash as ETag."""

    def __init__(self, path: Path, etag: str, headers: dict[str, str]) -> None:
        super().__init__(path, headers=CIMultiDict(headers))
        self._content_etag = etag

    @property
    def etag(self) -> Any:
        return super().etag

    @etag.setter
    def etag(self, value: Any) -> None:
        # FileResponse would set one from mtime and size; a blob never changes.
        self._headers[hdrs.ETAG] = f'"{self._content_etag}"'


def _not_modified(request: web.Request, etag: str) -> bool:
    wanted = request.if_none_match
    return wanted is not None and any(e.value in (etag, "*") for e in wanted)


async def _serve(request: web.Request, *, thumb: bool) -> web.StreamResponse:
    session = await require_session(request)
    served = await uploads.served_file(
        request.app[SERVICES], session.user_id, _path_id(request, "id"), thumb=thumb
    )
    headers = serving_headers(served.mime, served.name)
    headers["Cache-Control"] = FILE_CACHE
    if _not_modified(request, served.etag):
        keep = ("Cache-Control", "X-Content-Type-Options", "Content-Security-Policy")
        return web.Response(
            status=304, headers={"ETag": f'"{served.etag}"', **{k: headers[k] for k in keep}}
        )
    return _BlobResponse(served.path, served.etag, headers)


@routes.get("/api/uploads/{id}/thumb")
async def thumbnail(request: web.Request) -> web.StreamResponse:
    return await _serve(request, thumb=True)


@routes.get("/api/uploads/{id}/{name}")
async def download(request: web.Request) -> web.StreamResponse:
    return await _serve(request, thumb=False)


# -- pictures ---------------------------------------------------------------------------------


@routes.put("/api/me/avatar")
async def put_my_avatar(request: web.Request) -> web.Response:
    session = await require_session(request)
    part = await _file_part(request, {})
    svc = request.app[SERVICES]
    user = await avatars.set_user_avatar(svc, session.user_id, multipart.chunks(part))
    return web.json_response({"user": user})


@routes.delete("/api/me/avatar")
async def delete_my_avatar(request: web.Request) -> web.Response:
    session = await require_session(request)
    user = await avatars.clear_user_avatar(request.app[SERVICES], session.user_id)
    return web.json_response({"user": user})


@routes.put("/api/rooms/{id}/avatar")
async def put_room_avatar(request: web.Request) -> web.Response:
    session = await require_session(request)
    svc = request.app[SERVICES]
    manager = await avatars.authorize_room_picture(svc, session.user_id, _path_id(request, "id"))
    part = await _file_part(request, {})  # read only once the rights are checked
    room = await avatars.set_room_avatar(svc, manager, multipart.chunks(part))
    return web.json_response({"room": room})


@routes.delete("/api/rooms/{id}/avatar")
async def delete_room_avatar(request: web.Request) -> web.Response:
    session = await require_session(request)
    svc = request.app[SERVICES]
    manager = await avatars.authorize_room_picture(svc, session.user_id, _path_id(request, "id"))
    room = await avatars.clear_room_avatar(svc, manager)
    return web.json_response({"room": room})


@routes.get("/api/avatars/{name}")
async def avatar(request: web.Request) -> web.StreamResponse:
    await require_session(request)
    path = await avatars.avatar_file(request.app[SERVICES], request.match_info["name"])
    etag = path.parent.name + path.stem
    headers = serving_headers("image/webp", "avatar.webp")
    headers["Cache-Control"] = AVATAR_CACHE
    if _not_modified(request, etag):
        return web.Response(
            status=304, headers={"ETag": f'"{etag}"', "Cache-Control": AVATAR_CACHE}
        )
    return _BlobResponse(path, etag, headers)


# -- housekeeping -----------------------------------------------------------------------------


async def housekeeping(app: web.Application) -> AsyncIterator[None]:
    """Prepare the file store; remove uploads nobody sent within `uploads.unattached_ttl_s`."""
    svc = app[SERVICES]
    await uploads.prepare_store(svc)
    every = min(3600.0, max(1.0, svc.settings.uploads.unattached_ttl_s / 4))

    async def loop() -> None:
        try:
            await uploads.remove_orphans(svc)
        except Exception:
            log.exception("looking for stray stored files failed")
        while True:
            try:
                removed = await uploads.sweep_unattached(svc)
                if removed:
                    log.info("removed %d uploads never sent", removed)
                await uploads.drop_stale_temp_files(svc)
            except Exception:
                log.exception("removing unsent uploads failed")
            await asyncio.sleep(every)

    task = asyncio.create_task(loop(), name="uploads-housekeeping")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
