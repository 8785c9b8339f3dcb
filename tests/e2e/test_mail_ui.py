"""Email in the browser (issue 16): the admin's Email tab says what leaves the building, sets
up the office's mail server and sends a test email; a person who forgot her password asks
for a link on the sign-in page, gets it by mail (a real SMTP server on loopback), opens it,
sets a new password and signs in with it."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.client import Client
from tests.e2e.conftest import AnonymousFactory, ContextFactory, OwnUserFactory
from tests.mail_server import Inbox, smtp_on_loopback, text_of
from tests.server import ADMIN_PASSWORD, Server


async def test_the_admin_sets_up_email_and_a_forgotten_password_is_reset_by_mail(
    own_server: Server,
    make_own_user: OwnUserFactory,
    open_as: ContextFactory,
    open_anonymous: AnonymousFactory,
) -> None:
    box = Inbox()
    async for smtp_port in smtp_on_loopback(box):
        admin = await Client(own_server.url).login("admin", ADMIN_PASSWORD)
        bob = await make_own_user("bob")
        _, page = await open_as(admin, server=own_server, path="/admin/mail")
        await expect(page.get_by_test_id("mail-leaves")).to_contain_text(
            "Mail to the office's own mail server"
        )
        await expect(page.get_by_test_id("mail-state")).to_have_text("Email is off.")
        await page.get_by_test_id("mail-host").fill("127.0.0.1")
        await page.get_by_test_id("mail-security-none").check()
        await page.get_by_test_id("mail-port").fill(str(smtp_port))
        await page.get_by_test_id("mail-from").fill("chat@office.lan")
        await page.get_by_test_id("mail-save").click()
        await expect(page.get_by_test_id("mail-note")).to_have_text("Saved. Email is on.")
        await expect(page.get_by_test_id("mail-state")).to_have_text("Email is on.")
        await page.get_by_test_id("mail-test-to").fill("it@office.lan")
        await page.get_by_test_id("mail-test").click()
        await expect(page.get_by_test_id("mail-test-note")).to_contain_text("Sent to it@office.lan")
        [test_mail] = await box.wait(1, log=own_server)
        assert test_mail["To"] == "it@office.lan"

        # Bob gives his address on his settings page.
        _, bob_page = await open_as(bob, server=own_server, path="/settings")
        await bob_page.get_by_test_id("my-email").fill("bob@office.lan")
        await bob_page.get_by_test_id("my-email-save").click()
        await expect(bob_page.get_by_test_id("my-email-note")).to_have_text("Saved.")
        _, anon = await open_anonymous(server=own_server)
        await anon.get_by_test_id("forgot-open").click()
        await anon.get_by_test_id("forgot-email").fill("bob@office.lan")
        await anon.get_by_test_id("forgot-submit").click()
        await expect(anon.get_by_test_id("forgot-note")).to_contain_text("on its way")
        reset_mail = (await box.wait(2, log=own_server))[1]
        link = re.search(r"http://\S+/reset\?token=\S+", text_of(reset_mail))
        assert link is not None and link.group(0).startswith(own_server.url), text_of(reset_mail)

        await anon.goto(link.group(0))
        await anon.get_by_test_id("reset-password").fill("a-new-password-9")
        await anon.get_by_test_id("reset-confirm").fill("a-new-password-9")
        await anon.get_by_test_id("reset-submit").click()
        await anon.get_by_test_id("reset-sign-in").click()
        await anon.get_by_test_id("login-username").fill(bob.user["username"])
        await anon.get_by_test_id("login-password").fill("a-new-password-9")
        await anon.get_by_test_id("login-submit").click()
        await expect(anon.get_by_test_id("current-user")).to_have_text(bob.user["username"])
        await admin.close()
