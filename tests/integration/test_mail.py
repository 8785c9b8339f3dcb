"""Email through the office's own mail server (issue 16), against a real SMTP server
(aiosmtpd) run by the test on loopback: the digest of missed messages (the right ones,
never twice, not after a restart either, text hidden when asked), STARTTLS with the
office's own CA, the write-only password, a reset link that works end to end, and a mail
server that hangs delaying nothing else."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client import Client
from tests.conftest import TEST_ENV, new_room, people_on
from tests.mail_server import (
    MAIL_WAIT,
    SMTP_PASSWORD,
    SMTP_USER,
    Inbox,
    html_of,
    office_certificates,
    smtp_on_loopback,
    text_of,
)
from tests.server import ADMIN_PASSWORD, Server, free_port, init_data

FROM = "chat@office.lan"


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, int]]:
    box = Inbox()
    async for port in smtp_on_loopback(box):
        yield box, port


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own on a fixed port (mail links name it), checking for
    missed messages every 0.2 s."""
    data = tmp_path / "data"
    data.mkdir()
    init_data(data)
    env = {**TEST_ENV, "PYCHAT_MAIL_CHECK_EVERY_S": "0.2", "PYCHAT_MAIL_SEND_TIMEOUT_S": "60"}
    srv = Server(data, env=env, port=free_port()).start()
    yield srv
    srv.stop()


async def configure(admin: Client, port: int, **extra: Any) -> dict[str, Any]:
    body = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": FROM,
        "digest_minutes": 0,
        **extra,
    }
    status, found = await admin.call("PATCH", "/api/admin/mail", body)
    assert status == 200, found
    return found  # type: ignore[no-any-return]


async def test_the_digest_mails_missed_messages_once_and_never_a_read_one(
    chat: Server, inbox: tuple[Inbox, int]
) -> None:
    box, smtp_port = inbox
    async for person in people_on(chat.url):
        admin = await Client(chat.url).login("admin", ADMIN_PASSWORD)
        alice, bob = await person("alice"), await person("bob")
        await configure(admin, smtp_port)
        status, mine = await bob.call("PUT", "/api/me/email", {"email": "Bob@Office.lan"})
        assert (status, mine) == (200, {"email": "Bob@Office.lan", "digest": True})
        # Snoozed, his digest waits (the notification rule's quiet time), so what he reads
        # meanwhile is settled before any digest is judged.
        status, _ = await bob.call("PUT", "/api/me/notifications", {"snooze": {"minutes": 60}})
        assert status == 200
        dm = await new_room(alice, bob, kind="direct")
        team = await new_room(alice, bob, name="team")
        a, b = await alice.connect(), await bob.connect()
        read = await a.send_message(dm["id"], "lunch at noon? (read)")
        unread = await a.send_message(dm["id"], "the keys are on my desk")
        mention = await a.send_message(team["id"], f"@{bob.user['username']} review please")
        await a.send_message(team["id"], "nobody in particular")  # no mention: not missed
        await b.ok({"type": "read.mark", "room": dm["id"], "message": read["id"]})

        status, _ = await bob.call("PUT", "/api/me/notifications", {"snooze": None})
        assert status == 200
        [digest] = await box.wait(1, log=chat)

        assert digest["To"] == "Bob@Office.lan"
        assert digest["Subject"] == "2 missed messages in Acme"
        text = text_of(digest)
        assert "the keys are on my desk" in text and "review please" in text
        assert "lunch at noon" not in text and "nobody in particular" not in text
        assert f"{chat.url}/rooms/{dm['id']}?message={unread['id']}" in text
        assert f"{chat.url}/rooms/{team['id']}?message={mention['id']}" in text
        assert "#team" in text
        assert "review please" in html_of(digest)

        # Only what came since, once; not again after a restart; text hidden when asked.
        later = await a.send_message(dm["id"], "coffee later?")
        second = (await box.wait(2))[1]
        assert "coffee later?" in text_of(second)
        assert "keys" not in text_of(second) and "review" not in text_of(second)
        await alice.close()
        await bob.close()
        await admin.close()
        await asyncio.to_thread(chat.stop)
        await asyncio.to_thread(chat.start)
        alice = await Client(chat.url).login(alice.user["username"], "user-password-1")
        bob = await Client(chat.url).login(bob.user["username"], "user-password-1")
        status, _ = await bob.call("PUT", "/api/me/notifications", {"hide_text": True})
        assert status == 200
        secret = await (await alice.connect()).send_message(dm["id"], "the safe code is 4711")
        third = (await box.wait(3))[2]
        assert third["Subject"] == "1 missed message in Acme"
        assert "4711" not in third.as_string()
        assert f"?message={secret['id']}" in text_of(third)
        assert "coffee" not in text_of(third) and later["id"] != secret["id"]
        assert len(box.mails) == 3
        await alice.close()
        await bob.close()


async def test_starttls_with_the_office_ca_and_a_password_never_shown(
    chat: Server, tmp_path: Path
) -> None:
    ca_pem, cert_file, key_file = office_certificates(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    box = Inbox()
    async for smtp_port in smtp_on_loopback(box, tls=tls):
        async for person in people_on(chat.url):
            admin = await Client(chat.url).login("admin", ADMIN_PASSWORD)
            bob = await person("bob")
            status, off = await admin.call("GET", "/api/admin/mail")
            assert (status, off["configured"], off["password_set"]) == (200, False, False)
            status, error = await admin.call("POST", "/api/admin/mail/test", {"to": "a@b.lan"})
            assert (status, error["error"]["code"]) == (409, "conflict")

            settings = await configure(
                admin,
                smtp_port,
                security="starttls",
                username=SMTP_USER,
                password=SMTP_PASSWORD,
            )
            assert settings["password_set"] is True and settings["configured"] is True
            # Not the office's CA yet: the server's certificate is not trusted.
            status, error = await admin.call("POST", "/api/admin/mail/test", {"to": "it@o.lan"})
            assert (status, error["error"]["code"]) == (502, "mail_failed"), error
            assert "certificate" in error["error"]["message"].lower()
            assert box.mails == []

            settings = await configure(admin, smtp_port, security="starttls", ca_pem=ca_pem)
            status, sent = await admin.call("POST", "/api/admin/mail/test", {"to": "it@o.lan"})
            assert (status, sent) == (200, {"sent_to": "it@o.lan"}), sent
            [(mail, how)] = box.mails
            assert how == {"tls": True, "authenticated": True, "rcpt": ["it@o.lan"]}
            assert mail["Subject"] == "Test email from Acme"

            # The password is write-only: in no reply, to an admin or anyone.
            for reply in (settings, await admin.get("/api/admin/mail")):
                assert SMTP_PASSWORD not in repr(reply)
                assert "password" not in reply and reply["password_set"] is True
            status, _ = await bob.call("GET", "/api/admin/mail")
            assert status == 403
            status, _ = await bob.call("PATCH", "/api/admin/mail", {"host": "evil.example"})
            assert status == 403
            # Bad input is a 400 naming the field, never a 500.
            for bad in (
                {"security": "ssl3"},
                {"port": 0},
                {"from_address": "not an address"},
                {"ca_pem": "-----BEGIN CERTIFICATE-----\nnope\n"},
                {"host": "a b"},
                {"password": "line\r\nbreak"},
            ):
                status, error = await admin.call("PATCH", "/api/admin/mail", bad)
                assert (status, error["error"]["code"]) == (400, "bad_request"), (bad, error)
            await admin.close()


async def test_a_reset_link_by_email_works_end_to_end(
    chat: Server, inbox: tuple[Inbox, int]
) -> None:
    box, smtp_port = inbox
    async for person in people_on(chat.url):
        admin = await Client(chat.url).login("admin", ADMIN_PASSWORD)
        bob = await person("bob")
        anon = Client(chat.url)
        assert await anon.get("/api/auth/mail") == {"reset_by_email": False}
        status, error = await anon.call("POST", "/api/auth/forgot", {"email": "bob@office.lan"})
        assert status == 409, error  # no mail server: the page says to ask an admin
        await configure(admin, smtp_port)
        assert await anon.get("/api/auth/mail") == {"reset_by_email": True}
        status, _ = await bob.call("PUT", "/api/me/email", {"email": "bob@office.lan"})
        assert status == 200
        status, error = await bob.call("PUT", "/api/me/email", {"email": "bob at office"})
        assert (status, error["error"]["code"]) == (400, "bad_request")

        # The same answer whoever has the address, or nobody.
        nobody = await anon.call("POST", "/api/auth/forgot", {"email": "nobody@office.lan"})
        asked = await anon.call("POST", "/api/auth/forgot", {"email": "BOB@office.lan"})
        assert asked == nobody and asked[0] == 202
        [mail] = await box.wait(1)
        assert mail["To"] == "bob@office.lan"
        found = re.search(r"(http://\S+/reset\?token=(\S+))", text_of(mail))
        assert found is not None and found.group(1).startswith(chat.url)

        status, _ = await anon.call(
            "POST", "/api/auth/reset", {"token": found.group(2), "password": "brand-new-pw-1"}
        )
        assert status == 204
        again = await Client(chat.url).login(bob.user["username"], "brand-new-pw-1")
        assert again.id == bob.id
        status, _ = await anon.call(
            "POST", "/api/auth/reset", {"token": found.group(2), "password": "other-pw-22"}
        )
        assert status == 403  # a link works once
        assert len(box.mails) == 1  # nobody@ got nothing
        await again.close()
        await anon.close()
        await admin.close()


async def test_a_mail_server_that_hangs_delays_nothing_else(chat: Server) -> None:
    accepted = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # never a greeting: the client waits for its timeout (60 s)
        accepted.set()

    hung = await asyncio.start_server(hang, "127.0.0.1", 0)
    hung_port = hung.sockets[0].getsockname()[1]
    closed_port = free_port()  # nothing listens there
    async for person in people_on(chat.url):
        admin = await Client(chat.url).login("admin", ADMIN_PASSWORD)
        alice, bob = await person("alice"), await person("bob")
        await configure(admin, closed_port)
        start = time.monotonic()
        status, error = await admin.call("POST", "/api/admin/mail/test", {"to": "it@o.lan"})
        assert (status, error["error"]["code"]) == (502, "mail_failed")
        assert "reach" in error["error"]["message"]
        assert time.monotonic() - start < 15  # refused at once, not a hang

        await configure(admin, hung_port)
        status, _ = await bob.call("PUT", "/api/me/email", {"email": "bob@office.lan"})
        dm = await new_room(alice, bob, kind="direct")
        a = await alice.connect()
        await a.send_message(dm["id"], "a digest for a mail server that hangs")
        await asyncio.wait_for(accepted.wait(), MAIL_WAIT)  # the sender is stuck in it now

        start = time.monotonic()
        sent = await a.send_message(dm["id"], "still instant")
        status, _ = await admin.call("POST", "/api/admin/mail/invite", {"email": "new@office.lan"})
        assert status == 201
        anon = Client(chat.url)
        status, _ = await anon.call("POST", "/api/auth/forgot", {"email": "bob@office.lan"})
        assert status == 202
        # Each answered while the mail server hangs for up to 60 s: none waits for it.
        assert time.monotonic() - start < 15 and sent["body"] == "still instant"
        await anon.close()
        await admin.close()
    for writer in held:
        writer.close()
    hung.close()
