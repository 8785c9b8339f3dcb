"""REST: email (issue 16). The admin's SMTP settings, test mail and invitations by email
(`/api/admin/mail*`: 401 without a session, 403 for anyone but an admin, before any body
is read); a person's own address and digest opt-out (`/api/me/email`); and "Forgot
password?" on the sign-in page (`/api/auth/forgot`, `/api/auth/mail`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ..chat import admin, admin_mail, email
from ..chat.admin import Admin
from ..mail.config import SECURITIES
from ..mail.service import MailService
from ..state.app_keys import MAIL, SERVICES
from . import schemas as s
from .middleware import client_address, read_json, require_session

if TYPE_CHECKING:
    from ..state.services import Services

routes = web.RouteTableDef()

MAIL_SETTINGS = {
    "host": s.optional(s.Field(s.text(255))),
    "port": s.optional(s.Field(s.int_range(1, 65535))),
    "security": s.optional(s.Field(s.text(max(len(x) for x in SECURITIES)))),
    "username": s.optional(s.Field(s.text(256))),
    "password": s.optional(s.Field(s.text(256))),
    "from_address": s.optional(s.Field(s.text(254))),
    "verify_certificate": s.optional(s.BOOL),
    "ca_pem": s.optional(s.Field(s.text(64 * 1024)), nullable=True),
    "digest_minutes": s.optional(s.Field(s.int_range(0, 1440))),
}
TEST_MAIL = {"to": s.optional(s.Field(s.text(254)), nullable=True)}
INVITE_MAIL = {
    "email": s.Field(s.text(254)),
    "uses": s.optional(s.Field(s.int_range(1, 10000))),
    "expires_in_s": s.optional(s.Field(s.int_range(60, 365 * 86400))),
}
MY_EMAIL = {
    "email": s.optional(s.Field(s.text(254)), nullable=True),
    "digest": s.optional(s.BOOL),
}
FORGOT = {"email": s.Field(s.text(254))}


async def _admin(request: web.Request) -> tuple[Services, MailService, Admin]:
    session = await require_session(request)
    svc = request.app[SERVICES]
    return svc, request.app[MAIL], await admin.authorize(svc, session)


@routes.get("/api/admin/mail")
async def mail_settings(request: web.Request) -> web.Response:
    _, mail, actor = await _admin(request)
    return web.json_response(await admin_mail.mail_settings(mail, actor))


@routes.patch("/api/admin/mail")
async def update_mail_settings(request: web.Request) -> web.Response:
    svc, mail, actor = await _admin(request)
    body = s.validate(MAIL_SETTINGS, await read_json(request))
    return web.json_response(await admin_mail.update_mail_settings(svc, mail, actor, body))


@routes.post("/api/admin/mail/test")
async def send_test_mail(request: web.Request) -> web.Response:
    svc, mail, actor = await _admin(request)
    body = s.validate(TEST_MAIL, await read_json(request))
    return web.json_response(await admin_mail.send_test_mail(svc, mail, actor, body.get("to")))


@routes.post("/api/admin/mail/invite")
async def invite_by_email(request: web.Request) -> web.Response:
    svc, mail, actor = await _admin(request)
    body = s.validate(INVITE_MAIL, await read_json(request))
    found = await admin_mail.invite_by_email(
        svc,
        mail,
        actor,
        body["email"],
        body.get("uses", 1),
        body.get("expires_in_s", 7 * 86400),
    )
    return web.json_response(found, status=201)


@routes.get("/api/me/email")
async def my_email(request: web.Request) -> web.Response:
    session = await require_session(request)
    return web.json_response(await email.my_email(request.app[SERVICES], session))


@routes.put("/api/me/email")
async def set_my_email(request: web.Request) -> web.Response:
    session = await require_session(request)
    body = s.validate(MY_EMAIL, await read_json(request))
    return web.json_response(await email.set_my_email(request.app[SERVICES], session, body))


@routes.get("/api/auth/mail")
async def mail_status(request: web.Request) -> web.Response:
    return web.json_response(await email.mail_status(request.app[MAIL]))


@routes.post("/api/auth/forgot")
async def forgot_password(request: web.Request) -> web.Response:
    body = s.validate(FORGOT, await read_json(request))
    message = await email.forgot_password(
        request.app[SERVICES], request.app[MAIL], body["email"], client_address(request)
    )
    return web.json_response({"message": message}, status=202)
