"""A person's own email: her address and whether she wants digests of missed messages, and
"Forgot password?", which mails a reset link to the accounts with that address."""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import TYPE_CHECKING, Any

from ..db import Tx
from ..errors import Conflict, NotFound, RateLimited
from ..mail import compose
from ..mail.addresses import clean_address
from ..mail.service import MailService
from ..ratelimit import address_key
from ..storage import mail as stored
from ..storage import resets
from .accounts import Session, token_hash
from .admin import RESET_LINK_MS

if TYPE_CHECKING:
    from ..state.services import Services

log = logging.getLogger(__name__)
MAX_ACCOUNTS_PER_ADDRESS = 5  # one address shared by a few accounts: each gets its link
FORGOT_ANSWER = "If an account here has that address, a reset link is on its way to it."


def _mine(row: Any) -> dict[str, Any]:
    return {"email": row["email"], "digest": bool(row["email_digest"])}


async def my_email(svc: Services, session: Session) -> dict[str, Any]:
    row = await stored.address_of(svc.db, session.user_id)
    if row is None:
        raise NotFound("No such user.")
    return _mine(row)


async def set_my_email(svc: Services, session: Session, changes: dict[str, Any]) -> dict[str, Any]:
    """Her address (None or "" removes it) and her digest opt-out. A new address, or digests
    turned back on, start from now: no backlog is mailed."""
    row = await stored.address_of(svc.db, session.user_id)
    if row is None:
        raise NotFound("No such user.")
    email = row["email"]
    if "email" in changes:
        raw = (changes["email"] or "").strip()
        email = clean_address(raw) if raw else None
    digest = bool(changes.get("digest", bool(row["email_digest"])))
    restart = email != row["email"] or (digest and not row["email_digest"])

    async def job(tx: Tx) -> None:
        await stored.set_address(tx, session.user_id, email, digest)
        if restart:
            await stored.set_mark(tx, session.user_id, await stored.newest_message_id(tx))

    await svc.db.write(job)
    return {"email": email, "digest": digest}


async def mail_status(mail: MailService) -> dict[str, Any]:
    """For the sign-in page: whether "Forgot password?" can mail a link."""
    return {"reset_by_email": (await mail.config()).configured}


async def forgot_password(svc: Services, mail: MailService, raw_email: str, address: str) -> str:
    """Mail a reset link to each active account with this address. The answer is the same
    whether or not one has it, and comes before any lookup (the work runs after the reply).
    Throttled per asking address (429) and per mailed address (silently: no second mail)."""
    if not (await mail.config()).configured:
        raise Conflict("Email is not set up here: ask an admin for a reset link.")
    email = clean_address(raw_email)
    wait = await svc.forgot_by_ip.take(address_key(address))
    if wait > 0:
        raise RateLimited("Too many reset requests from here; try again later.", retry_after_s=wait)
    # By a digest of the address: the limits' keys (in Redis on several nodes) hold none.
    address_digest = hashlib.sha256(email.lower().encode()).hexdigest()
    if await svc.forgot_by_address.take(address_digest) <= 0:
        mail.in_background(_mail_reset_links(svc, mail, email))
    return FORGOT_ANSWER


async def _mail_reset_links(svc: Services, mail: MailService, email: str) -> None:
    people = await stored.people_with_address(svc.db, email, MAX_ACCOUNTS_PER_ADDRESS)
    if not people:
        return
    config = await mail.config()
    org = await mail.org_name()
    site = await mail.site_url()
    for person in people:
        user_id = int(person["id"])
        token = secrets.token_urlsafe(32)
        now = svc.now_ms()

        async def job(tx: Tx, user_id: int = user_id, token: str = token, now: int = now) -> None:
            await resets.replace(tx, user_id, token_hash(token), user_id, now, now + RESET_LINK_MS)

        await svc.db.write(job)
        message = compose.reset_link(
            from_address=config.from_address,
            org=org,
            to=str(person["email"]),
            username=str(person["username"]),
            url=f"{site}/reset?token={token}",
        )
        mail.send_later(message)
        log.info("mailed user %d a password reset link they asked for", user_id)
