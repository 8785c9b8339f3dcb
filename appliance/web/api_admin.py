"""REST: the admin area (users, invites, settings, device, storage, backups, logs, version)
and the one-time password reset link. Every `/api/admin/*` handler starts with `_admin`:
`401` without a session, `403` for anyone but an active admin, before any body is read;
the `Admin` it returns is what every admin action takes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web

from ..chat import admin, admin_backups, admin_device
from ..chat.admin import Admin
from ..errors import BadRequest, NotFound, TooLarge
from ..privileged.client import SOCKET_PATH as HELPER_SOCKET_PATH
from ..state.app_keys import (
    ANNOUNCER,
    BROWSER_CLOCK,
    DEVICE_TLS,
    HELPER_SOCKET,
    LOG_BUFFER,
    SERVICES,
    STARTED_AT,
    USB_BACKUPS,
)
from ..tls.custom import MAX_UPLOAD_BYTES as MAX_CERT_BYTES
from . import multipart
from . import schemas as s
from .middleware import client_address, read_json, require_session

if TYPE_CHECKING:
    from ..state.services import Services

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
# The root helper's socket (docs/operations.md); the default unless the app sets another.

NEW_USER = {
    "username": s.Field(s.text(64)),
    "password": s.Field(s.text(1024)),
    "display_name": s.optional(s.Field(s.text(200)), nullable=True),
    "admin": s.optional(s.BOOL),
}
USER_FLAGS = {"deactivated": s.optional(s.BOOL), "admin": s.optional(s.BOOL)}
INVITE = {
    "uses": s.optional(s.Field(s.int_range(1, 10000))),
    "expires_in_s": s.optional(s.Field(s.int_range(60, 365 * 86400)), nullable=True),
}
ORG_SETTINGS = {
    "org_name": s.optional(s.Field(s.text(200))),
    "registration": s.optional(s.Field(s.text(16))),
}
RESET = {"token": s.Field(s.text(admin.MAX_TOKEN_CHARS)), "password": s.Field(s.text(1024))}
RENAME = {"name": s.Field(s.text(100))}
CONFIRM = {"confirm": s.BOOL}
# Generous bounds: appliance/privileged/validate.py gives the precise message per field.
WIFI = {
    "country": s.Field(s.text(16)),
    "ssid": s.Field(s.text(128)),
    "passphrase": s.Field(s.text(256)),
}
PART_CHUNK = 1 << 16


async def _admin(request: web.Request) -> tuple[Services, Admin]:
    session = await require_session(request)
    svc = request.app[SERVICES]
    return svc, await admin.authorize(svc, session)


def _device(request: web.Request) -> admin_device.Device:
    return admin_device.Device(
        request.app[DEVICE_TLS],
        request.app.get(ANNOUNCER),
        request.app.get(HELPER_SOCKET, HELPER_SOCKET_PATH),
    )


def _path_id(request: web.Request, name: str) -> int:
    return s.path_id(request.match_info[name])


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "0")
    if raw not in ("0", "1", "true", "false"):
        raise BadRequest(f"{name} must be 1 or 0.")
    return raw in ("1", "true")


async def _small_fields(request: web.Request, limits: dict[str, int]) -> dict[str, bytes]:
    """Every field of a multipart body, each within its limit (in memory: they are small)."""
    fields: dict[str, bytes] = {}
    async for part in multipart.parts(request):
        name = part.name or ""
        if name not in limits:
            raise BadRequest(f"Unknown field: {name[:64]}.")
        if name in fields:
            raise BadRequest(f"{name} was sent twice.")
        data = bytearray()
        async for chunk in multipart.chunks(part, PART_CHUNK):
            data += chunk
            if len(data) > limits[name]:
                raise TooLarge(f"{name} may have at most {limits[name]} bytes.")
        fields[name] = bytes(data)
    return fields


# -- people ---------------------------------------------------------------------------------


@routes.get("/api/admin/users")
async def list_users(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    return web.json_response({"users": await admin.list_users(svc, actor)})


@routes.post("/api/admin/users")
async def create_user(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    body = s.validate(NEW_USER, await read_json(request))
    user = await admin.create_user(
        svc,
        actor,
        body["username"],
        body["password"],
        display_name=body.get("display_name"),
        make_admin=body.get("admin", False),
        address=client_address(request),
    )
    return web.json_response({"user": user}, status=201)


@routes.patch("/api/admin/users/{id}")
async def update_user(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    body = s.validate(USER_FLAGS, await read_json(request))
    user = await admin.update_user(svc, actor, _path_id(request, "id"), body)
    return web.json_response({"user": user})


@routes.post("/api/admin/users/{id}/reset")
async def create_reset_link(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    token, expires_at = await admin.create_reset_link(svc, actor, _path_id(request, "id"))
    url = f"{request.scheme}://{request.host}/reset?token={token}"
    return web.json_response({"url": url, "expires_at": expires_at}, status=201)


@routes.post("/api/auth/reset")
async def reset_password(request: web.Request) -> web.Response:
    body = s.validate(RESET, await read_json(request))
    await admin.reset_password(request.app[SERVICES], body["token"], body["password"])
    return web.Response(status=204)


@routes.get("/api/admin/invites")
async def list_invites(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    return web.json_response({"invites": await admin.list_invites(svc, actor)})


@routes.post("/api/admin/invites")
async def create_invite(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    body = s.validate(INVITE, await read_json(request))
    code = await admin.create_invite(
        svc, actor, body.get("uses", 1), body.get("expires_in_s", 7 * 86400)
    )
    url = f"{request.scheme}://{request.host}/register?invite={code}"
    return web.json_response({"code": code, "url": url}, status=201)


@routes.delete("/api/admin/invites/{id}")
async def revoke_invite(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    await admin.revoke_invite(svc, actor, _path_id(request, "id"))
    return web.Response(status=204)


# -- the organisation's settings ------------------------------------------------------------


@routes.get("/api/admin/settings")
async def org_settings(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    return web.json_response(await admin.org_settings(svc, actor))


@routes.patch("/api/admin/settings")
async def update_org_settings(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    body = s.validate(ORG_SETTINGS, await read_json(request))
    return web.json_response(await admin.update_org_settings(svc, actor, body))


# -- device ---------------------------------------------------------------------------------


@routes.get("/api/admin/device")
async def device_info(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    info = await admin_device.device_info(svc, actor, _device(request))
    info["clock"] = await request.app[BROWSER_CLOCK].status()
    return web.json_response(info)


@routes.patch("/api/admin/device")
async def rename_device(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    body = s.validate(RENAME, await read_json(request))
    found = await admin_device.rename_device(svc, actor, _device(request), body["name"])
    return web.json_response(found)


@routes.post("/api/admin/device/certificate")
async def install_certificate(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    limits = {"certificate": MAX_CERT_BYTES, "key": MAX_CERT_BYTES, "names": 1000}
    fields = await _small_fields(request, limits)
    if "certificate" not in fields or "key" not in fields:
        raise BadRequest("Send both the certificate and its private key.")
    try:
        names_text = fields.get("names", b"").decode()
    except UnicodeDecodeError:
        raise BadRequest("names must be text.") from None
    names = [n for n in names_text.replace(",", " ").split() if n]
    certificate = await admin_device.install_certificate(
        svc, actor, _device(request), fields["certificate"], fields["key"], names
    )
    return web.json_response({"certificate": certificate})


@routes.delete("/api/admin/device/certificate")
async def remove_certificate(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    return web.json_response(await admin_device.remove_certificate(svc, actor, _device(request)))


@routes.post("/api/admin/device/ca")
async def regenerate_ca(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    if not s.validate(CONFIRM, await read_json(request))["confirm"]:
        raise BadRequest("Confirm that every office device must trust the new CA.")
    certificate = await admin_device.regenerate_ca(svc, actor, _device(request))
    return web.json_response({"certificate": certificate})


@routes.post("/api/admin/device/reboot")
async def reboot_device(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    found = await admin_device.power(svc, actor, _device(request), "reboot")
    return web.json_response(found, status=202)


@routes.post("/api/admin/device/shutdown")
async def shutdown_device(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    found = await admin_device.power(svc, actor, _device(request), "shutdown")
    return web.json_response(found, status=202)


@routes.put("/api/admin/device/wifi")
async def set_wifi(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    body = s.validate(WIFI, await read_json(request))
    found = await admin_device.set_wifi(
        svc, actor, _device(request), body["country"], body["ssid"], body["passphrase"]
    )
    return web.json_response(found)


# -- storage, logs, version -----------------------------------------------------------------


@routes.get("/api/admin/storage")
async def storage_use(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    return web.json_response(await admin.storage_use(svc, actor))


@routes.get("/api/admin/logs")
async def recent_logs(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    limit = s.query_int(request.query, "limit", 1, 2000, 200)
    assert limit is not None
    lines = await admin.recent_logs(svc, actor, request.app[LOG_BUFFER], limit)
    return web.json_response({"lines": lines})


@routes.get("/api/admin/version")
async def version_info(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    return web.json_response(await admin.version_info(svc, actor, request.app[STARTED_AT]))


# -- backups --------------------------------------------------------------------------------


@routes.get("/api/admin/backup", allow_head=False)  # a HEAD would make a whole snapshot
async def download_backup(request: web.Request) -> web.StreamResponse:
    svc, actor = await _admin(request)
    async with admin_backups.backup_archive(svc, actor) as (name, chunks):
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/gzip",
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(request)
        try:
            async for chunk in chunks:
                await response.write(chunk)
            await response.write_eof()
        except ConnectionResetError:
            log.info("a backup download ended early: the client went away")
        except Exception:
            # The status line is sent: the only honest signal left is an incomplete body.
            log.exception("a backup download failed part-way; closing the connection")
            if request.transport is not None:
                request.transport.close()
        return response


@routes.get("/api/admin/backup/status")
async def backup_status(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    usb = request.app.get(USB_BACKUPS)
    return web.json_response(await admin_backups.backup_status(svc, actor, usb))


@routes.post("/api/admin/backup/usb")
async def usb_backup_now(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    usb = request.app.get(USB_BACKUPS)
    return web.json_response(await admin_backups.usb_backup_now(svc, actor, usb))


@routes.post("/api/admin/restore")
async def restore_backup(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    admin_backups.require_sqlite(svc)  # before a byte of the upload is read
    dry_run = _flag(request, "dry_run")
    async for part in multipart.parts(request):
        if part.name != "backup":
            raise BadRequest(f"Unknown field: {(part.name or '')[:64]}.")

        declared = request.content_length
        chunks = multipart.chunks(part, PART_CHUNK * 16)
        async with admin_backups.uploaded_backup(svc, actor, chunks, declared) as archive:
            report = await admin_backups.check_restore(
                svc, actor, _device(request), archive, dry_run=dry_run
            )
        return web.json_response(report, status=200 if dry_run else 202)
    raise BadRequest("Send the backup file in the field named backup.")


@routes.delete("/api/admin/restore")
async def cancel_restore(request: web.Request) -> web.Response:
    svc, actor = await _admin(request)
    if not await admin_backups.cancel_restore(svc, actor):
        raise NotFound("No restore is waiting.")
    return web.Response(status=204)
