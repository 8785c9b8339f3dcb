"""The admin's email actions: the SMTP settings (the password write-only), a test mail, and
invitations by email. Each takes the `Admin` that admin.authorize made."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..db import Tx
from ..errors import AppError, BadRequest, Conflict
from ..mail import compose
from ..mail import config as mail_config
from ..mail.addresses import clean_address
from ..mail.sender import MailFailed, deliver
from ..mail.service import MailService
from ..storage import mail as stored
from ..storage import users
from . import registration
from .admin import Admin

if TYPE_CHECKING:
    from ..state.services import Services

log = logging.getLogger(__name__)


class MailNotSent(AppError):
    status, code = 502, "mail_failed"


async def mail_settings(mail: MailService, admin: Admin) -> dict[str, Any]:
    return (await mail.config()).to_api()


async def update_mail_settings(
    svc: Services, mail: MailService, admin: Admin, changes: dict[str, Any]
) -> dict[str, Any]:
    """Check and save; mail just set up starts digests from now (no old backlog is mailed)."""
    current = await mail.config()
    updated = mail_config.apply_changes(current, changes)

    async def job(tx: Tx) -> None:
        await mail_config.save(tx, updated)
        if updated.configured and not current.configured:
            await stored.start_marks_at(tx, await stored.newest_message_id(tx))

    await svc.db.write(job)
    state = "on" if updated.configured else "off"
    log.info("admin %d changed the mail settings (email %s)", admin.user_id, state)
    return updated.to_api()


async def send_test_mail(
    svc: Services, mail: MailService, admin: Admin, to: str | None
) -> dict[str, Any]:
    """Mail `to` (or the admin's own address) now, and say what the server answered."""
    config = await mail.config()
    if not config.configured:
        raise Conflict("Set the mail server and the from address first.")
    if to:
        address = clean_address(to)
    else:
        row = await stored.address_of(svc.db, admin.user_id)
        if row is None or not row["email"]:
            raise BadRequest("Give an address to send the test email to.")
        address = str(row["email"])
    message = compose.test_mail(
        from_address=config.from_address,
        org=await mail.org_name(),
        to=address,
        site=await mail.site_url(),
    )
    try:
        await deliver(config, message, mail.timeout_s)
    except MailFailed as e:
        raise MailNotSent(str(e)) from None
    log.info("admin %d sent a test email", admin.user_id)
    return {"sent_to": address}


async def invite_by_email(
    svc: Services, mail: MailService, admin: Admin, to: str, uses: int, expires_in_s: int
) -> dict[str, Any]:
    """A new invite whose link is mailed to `to` (handed to the sender; it never waits)."""
    config = await mail.config()
    if not config.configured:
        raise Conflict("Email is not set up: set the mail server first.")
    address = clean_address(to)
    code = await registration.create_invite(svc, admin.user_id, uses, expires_in_s)
    site = await mail.site_url()
    url = f"{site}/register?invite={code}"
    inviter = await users.get(svc.db, admin.user_id)
    expires = datetime.fromtimestamp(svc.clock() + expires_in_s, UTC)
    message = compose.invitation(
        from_address=config.from_address,
        org=await mail.org_name(),
        to=address,
        inviter=str(inviter["display_name"]) if inviter is not None else "An admin",
        url=url,
        expires=expires.strftime("%d %B %Y"),
    )
    if not mail.send_later(message):
        raise MailNotSent("Too many mails are waiting to be sent; try again in a while.")
    log.info("admin %d mailed an invitation", admin.user_id)
    return {"code": code, "url": url, "emailed_to": address}
