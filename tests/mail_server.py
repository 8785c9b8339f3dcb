"""A real SMTP server (aiosmtpd) on the test's own event loop, for the email tests
(tests/integration/test_mail.py, tests/e2e/test_mail_ui.py): what it received and how, and
a certificate from an office CA of the test's own for STARTTLS."""

from __future__ import annotations

import asyncio
import datetime
import email
import ipaddress
import ssl
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.server import Server

MAIL_WAIT = 30.0  # generous for a loaded machine
SMTP_USER, SMTP_PASSWORD = "chat@office.lan", "smtp-secret-Pw-42"


class Inbox:
    """What the test's SMTP server received, in order, and how (TLS, authenticated)."""

    def __init__(self) -> None:
        self.mails: list[tuple[EmailMessage, dict[str, Any]]] = []
        self.changed = asyncio.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(msg, EmailMessage)
        how = {
            "tls": session.ssl is not None,
            "authenticated": session.authenticated,
            "rcpt": list(envelope.rcpt_tos),
        }
        async with self.changed:
            self.mails.append((msg, how))
            self.changed.notify_all()
        return "250 OK"

    async def wait(
        self, count: int, timeout: float = MAIL_WAIT, *, log: Server | None = None
    ) -> list[EmailMessage]:
        async def enough() -> list[EmailMessage]:
            async with self.changed:
                await self.changed.wait_for(lambda: len(self.mails) >= count)
                return [m for m, _ in self.mails]

        try:
            return await asyncio.wait_for(enough(), timeout)
        except TimeoutError:
            got = [m["Subject"] for m, _ in self.mails]
            shown = "" if log is None else "\n" + log.log()[-5000:]
            raise AssertionError(f"waited for {count} mails; got {got}{shown}") from None


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())


async def smtp_on_loopback(
    inbox: Inbox, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        return AuthResult(success=ok)

    loop = asyncio.get_running_loop()
    extra: dict[str, Any] = {}
    if tls is not None:
        extra = {
            "tls_context": tls,
            "require_starttls": True,
            "authenticator": authenticate,
            "auth_require_tls": True,
        }
    server = await loop.create_server(
        lambda: SMTP(inbox, hostname="mail.office.lan", **extra), "127.0.0.1", 0
    )
    yield server.sockets[0].getsockname()[1]
    server.close()


def office_certificates(tmp: Path) -> tuple[str, Path, Path]:
    """A CA of the office's own and a certificate for 127.0.0.1 it signed (PEM, files)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Office test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.office.lan")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "mail.crt", tmp / "mail.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM).decode(), cert_file, key_file
