"""Email's pure parts (issue 16): addresses that cannot smuggle a header, settings whose
password is kept unless replaced and never shown, and digests that escape what people wrote."""

from __future__ import annotations

import pytest

from appliance.errors import BadRequest
from appliance.mail import compose
from appliance.mail.addresses import clean_address
from appliance.mail.config import MailConfig, apply_changes


@pytest.mark.parametrize(
    "raw",
    [
        "bob@office.lan\r\nBcc: everyone@office.lan",
        "bob@office.lan, eve@example.org",
        "<bob@office.lan>",
        "bob",
        "bob@",
        "bob@-office.lan",
        "b" * 65 + "@office.lan",
        "bob@" + "a" * 250 + ".lan",
    ],
)
def test_an_address_is_one_address_and_nothing_more(raw: str) -> None:
    with pytest.raises(BadRequest):
        clean_address(raw)


def test_ordinary_addresses_pass_trimmed() -> None:
    assert clean_address("  Bob.Smith+chat@mail.office.lan ") == "Bob.Smith+chat@mail.office.lan"


def test_the_password_is_kept_unless_replaced_and_never_shown() -> None:
    config = apply_changes(
        MailConfig(), {"host": "mail.office.lan", "from_address": "c@o.lan", "password": "pw1"}
    )
    assert config.configured and config.password == "pw1"
    kept = apply_changes(config, {"port": 465, "security": "tls"})
    assert kept.password == "pw1"
    shown = kept.to_api()
    assert "password" not in shown and shown["password_set"] is True
    assert "pw1" not in repr(shown)
    assert apply_changes(kept, {"password": ""}).to_api()["password_set"] is False
    with pytest.raises(BadRequest):
        apply_changes(MailConfig(), {"host": "mail.office.lan"})  # no from address
    assert not apply_changes(kept, {"host": ""}).configured  # an empty host turns it off


def test_a_digest_escapes_what_people_wrote_and_hides_text_when_asked() -> None:
    shown = compose.MissedMessage(
        room_id=3,
        room_name="team",
        room_kind="channel",
        thread_id=9,
        message_id=12,
        author="Alice <script>",
        body="<img src=x onerror=alert(1)> see https://x.lan",
    )
    hidden = compose.MissedMessage(
        room_id=4,
        room_name="",
        room_kind="direct",
        thread_id=None,
        message_id=13,
        author="Carol",
        body=None,
    )
    msg = compose.digest(
        from_address="chat@office.lan",
        org="Acme",
        to="bob@office.lan",
        name="Bob",
        site="https://office.local",
        missed=[shown, hidden],
        settings_url="https://office.local/settings",
    )
    assert msg["Subject"] == "2 missed messages in Acme"
    html_part = msg.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert "<img" not in html and "<script>" not in html and "&lt;img" in html
    assert 'href="https://office.local/rooms/3?message=12&amp;thread=9"' in html
    text_part = msg.get_body(("plain",))
    assert text_part is not None
    text = text_part.get_content()
    assert "Carol (direct message)" in text
    assert "https://office.local/rooms/4?message=13" in text
    assert "Alice <script> in #team" in text
