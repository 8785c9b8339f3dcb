"""What counts as an email address here: one the office's mail server can take, bounded,
with nothing that could smuggle a second header or recipient."""

from __future__ import annotations

import re

from ..errors import BadRequest

MAX_ADDRESS = 254  # RFC 5321's path limit, less the angle brackets
# local@domain: no spaces, quotes, angle brackets, commas or control characters; a domain
# of dot-separated labels (an office's own "mail.office.lan" included).
_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
    r"@(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def clean_address(raw: str, what: str = "An email address") -> str:
    address = raw.strip()
    if len(address) > MAX_ADDRESS or not _ADDRESS.fullmatch(address):
        raise BadRequest(f"{what} looks like name@example.org (at most {MAX_ADDRESS} characters).")
    return address


def is_address(raw: str) -> bool:
    return len(raw) <= MAX_ADDRESS and _ADDRESS.fullmatch(raw.strip()) is not None
