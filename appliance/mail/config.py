"""The admin's SMTP settings: kept as one JSON value in the database's `settings` table, the
password included (the device must send it to the mail server), never shown by the API."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any, Literal, cast

from cryptography import x509

from ..db import Tx
from ..errors import BadRequest
from ..storage import Reader
from ..storage import settings as stored
from .addresses import clean_address

SETTINGS_KEY = "mail"
Security = Literal["none", "starttls", "tls"]
SECURITIES: tuple[Security, ...] = ("none", "starttls", "tls")
MAX_CA_CHARS = 64 * 1024
DEFAULT_DIGEST_MINUTES = 15
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\]")


@dataclass(frozen=True)
class MailConfig:
    host: str = ""
    port: int = 587
    security: Security = "starttls"
    username: str = ""
    password: str = ""
    from_address: str = ""
    verify_certificate: bool = True
    ca_pem: str | None = None  # an office mail server's own CA, trusted besides the system's
    digest_minutes: int = DEFAULT_DIGEST_MINUTES  # 0: at the next check

    @property
    def configured(self) -> bool:
        return bool(self.host and self.from_address)

    def to_api(self) -> dict[str, Any]:
        """What the admin page shows: everything but the password, which is write-only."""
        return {
            "configured": self.configured,
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "username": self.username,
            "password_set": bool(self.password),
            "from_address": self.from_address,
            "verify_certificate": self.verify_certificate,
            "ca_pem": self.ca_pem,
            "digest_minutes": self.digest_minutes,
        }


async def load(db: Reader) -> MailConfig:
    raw = await stored.get(db, SETTINGS_KEY)
    if raw is None:
        return MailConfig()
    try:
        found = json.loads(raw)
        known = {f.name for f in dataclasses.fields(MailConfig)}
        return MailConfig(**{k: v for k, v in found.items() if k in known})
    except (ValueError, TypeError, AttributeError):
        return MailConfig()  # unreadable: mail stays off rather than the server failing


async def save(tx: Tx, config: MailConfig) -> None:
    await stored.put(tx, SETTINGS_KEY, json.dumps(dataclasses.asdict(config)))


def apply_changes(current: MailConfig, changes: dict[str, Any]) -> MailConfig:
    """The settings with the admin's changes, each checked; a field left out is kept, and so
    is the password unless one is given ("" removes it). An empty host turns mail off."""
    values: dict[str, Any] = {}
    if "host" in changes:
        host = changes["host"].strip()
        if host and not _HOST.fullmatch(host):
            raise BadRequest("host must be the mail server's name or address.")
        values["host"] = host
    if "port" in changes:
        values["port"] = changes["port"]
    if "security" in changes:
        if changes["security"] not in SECURITIES:
            raise BadRequest("security must be none, starttls or tls.")
        values["security"] = cast(Security, changes["security"])
    if "username" in changes:
        values["username"] = _plain(changes["username"], "username")
    if "password" in changes:
        values["password"] = _plain(changes["password"], "password")
    if "from_address" in changes:
        raw = changes["from_address"].strip()
        values["from_address"] = clean_address(raw, "from_address") if raw else ""
    if "verify_certificate" in changes:
        values["verify_certificate"] = changes["verify_certificate"]
    if "ca_pem" in changes:
        values["ca_pem"] = _ca(changes["ca_pem"])
    if "digest_minutes" in changes:
        values["digest_minutes"] = changes["digest_minutes"]
    updated = dataclasses.replace(current, **values)
    if updated.host and not updated.from_address:
        raise BadRequest("Give the address mail is sent from (from_address).")
    return updated


def _plain(value: str, name: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadRequest(f"{name} may not hold control characters.")
    return value


def _ca(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > MAX_CA_CHARS:
        raise BadRequest(f"ca_pem may have at most {MAX_CA_CHARS} characters.")
    try:
        found = x509.load_pem_x509_certificates(value.encode())
    except ValueError:
        found = []
    if not found:
        raise BadRequest(
            "ca_pem must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)."
        )
    return value.strip() + "\n"
