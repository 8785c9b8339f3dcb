"""The mails themselves: plain text, plus simple HTML where it helps (the digest). Every
value that came from a person is escaped in the HTML; headers are set through
`EmailMessage`, which refuses a newline in one."""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

MAX_SNIPPET = 300  # characters of one message in a digest


@dataclass(frozen=True)
class MissedMessage:
    room_id: int
    room_name: str  # "" for a DM
    room_kind: str
    thread_id: int | None
    message_id: int
    author: str
    body: str | None  # None: she hides message text in notifications and emails


def _new(from_address: str, sender_name: str, to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((sender_name, from_address))
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"  # no vacation replies to the device
    return msg


def message_url(site: str, m: MissedMessage) -> str:
    url = f"{site}/rooms/{m.room_id}?message={m.message_id}"
    return url if m.thread_id is None else f"{url}&thread={m.thread_id}"


def _where(m: MissedMessage) -> str:
    if m.room_kind == "direct":
        return f"{m.author} (direct message)"
    return f"{m.author} in #{m.room_name}"


def _snippet(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= MAX_SNIPPET else text[: MAX_SNIPPET - 1] + "…"


def digest(
    *,
    from_address: str,
    org: str,
    to: str,
    name: str,
    site: str,
    missed: list[MissedMessage],
    settings_url: str,
) -> EmailMessage:
    count = len(missed)
    noun = "message" if count == 1 else "messages"
    msg = _new(from_address, org, to, f"{count} missed {noun} in {org}")
    lines = [f"Hello {name},", "", f"You have {count} unread {noun} in {org}:", ""]
    items = []
    for m in missed:
        url = message_url(site, m)
        lines.append(f"* {_where(m)}")
        if m.body is not None:
            lines.append(f"  {_snippet(m.body)}")
        lines += [f"  {url}", ""]
        text = "" if m.body is None else f"<br>{html.escape(_snippet(m.body))}"
        items.append(f'<li><a href="{html.escape(url)}">{html.escape(_where(m))}</a>{text}</li>')
    lines += [f"Stop these emails in your settings: {settings_url}"]
    msg.set_content("\n".join(lines) + "\n")
    msg.add_alternative(
        f"<p>Hello {html.escape(name)},</p>"
        f"<p>You have {count} unread {noun} in {html.escape(org)}:</p>"
        f"<ul>{''.join(items)}</ul>"
        f'<p><small><a href="{html.escape(settings_url)}">Stop these emails</a>'
        " in your settings.</small></p>\n",
        subtype="html",
    )
    return msg


def reset_link(*, from_address: str, org: str, to: str, username: str, url: str) -> EmailMessage:
    msg = _new(from_address, org, to, f"Reset your {org} password")
    msg.set_content(
        f"Someone (hopefully you) asked to reset the password of {username} in {org}.\n\n"
        f"Choose a new password here (the link works once, for 24 hours):\n{url}\n\n"
        "If you did not ask, ignore this email: your password stays as it is.\n"
    )
    return msg


def invitation(
    *, from_address: str, org: str, to: str, inviter: str, url: str, expires: str
) -> EmailMessage:
    msg = _new(from_address, org, to, f"{inviter} invites you to {org}")
    msg.set_content(
        f"{inviter} invites you to {org}'s chat.\n\n"
        f"Create your account here (the invitation expires {expires}):\n{url}\n\n"
        "The link only works on the office network.\n"
    )
    return msg


def test_mail(*, from_address: str, org: str, to: str, site: str) -> EmailMessage:
    msg = _new(from_address, org, to, f"Test email from {org}")
    msg.set_content(
        f"This is a test email from {org}'s chat at {site}.\n"
        "Mail settings work: digests, password resets and invitations can be emailed.\n"
    )
    return msg
