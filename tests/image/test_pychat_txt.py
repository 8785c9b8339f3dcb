"""pychat.txt, the file a user edits on the card before first boot: what it accepts, what
it refuses, and that the Wi-Fi passphrase never stays on the card."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from appliance.privileged import commands

SCRIPT = Path(__file__).resolve().parents[2] / "image/overlay/usr/lib/pychat-image/pychat_txt.py"
TEMPLATE = Path(__file__).resolve().parents[2] / "image/boot/pychat.txt"
HOSTS = "127.0.0.1\tlocalhost\n127.0.1.1\tpychat\n"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh0ZXN0a2V5Zm9ydGhlaW1hZ2V0ZXN0c29ubHk alice@laptop"


@pytest.fixture(scope="module")
def txt() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pychat_txt", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["pychat_txt"] = module
    spec.loader.exec_module(module)
    return module


def filled(**values: str) -> str:
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(f"\n{key}=\n", f"\n{key}={value}\n")
    return text


def test_the_shipped_template_asks_for_nothing(txt: ModuleType) -> None:
    values, problems = txt.parse(TEMPLATE.read_text())
    assert problems == [] and not any(values.values())
    assert set(values) == set(txt.FIELDS), "the template offers every setting"


def test_wifi_and_name_become_network_manager_and_hostname_files(txt: ModuleType) -> None:
    text = filled(device_name="Office-Chat", wifi_country="de", wifi_ssid="Acme Wi-Fi",
                  wifi_passphrase="correct horse battery")  # fmt: skip
    values, problems = txt.parse(text)
    plan = txt.plan(values, False, HOSTS)
    assert problems == [] and plan.problems == []
    assert plan.hostname == "office-chat"
    assert plan.files[Path("/etc/hostname")] == (b"office-chat\n", 0o644)
    assert b"127.0.1.1\toffice-chat" in plan.files[commands.HOSTS][0]
    keyfile, mode = plan.files[commands.WIFI_KEYFILE]
    assert mode == 0o600, "the passphrase is readable by root only"
    assert keyfile == commands.wifi_keyfile("Acme Wi-Fi", "correct horse battery")
    assert plan.files[commands.WIFI_COUNTRY_CONF][0] == b"options cfg80211 ieee80211_regdom=DE\n"
    assert not plan.enable_ssh, "SSH stays off unless asked for"


def test_after_applying_the_file_keeps_no_values_and_says_what_happened(
    txt: ModuleType,
) -> None:
    text = filled(wifi_country="GB", wifi_ssid="Acme", wifi_passphrase="s3cret-passphrase")
    values, _ = txt.parse(text)
    after = txt.rewrite(text, txt.plan(values, False, HOSTS), "2026-01-01 10:00 UTC")
    assert "s3cret-passphrase" not in after
    again, problems = txt.parse(after)
    assert problems == [] and not any(again.values()), "nothing is applied twice"
    assert "applied: Wi-Fi network 'Acme'" in after and "# Boot of 2026-01-01" in after
    assert after.startswith(TEMPLATE.read_text().split("\n", 1)[0]), "the comments stay"
    # The next boot replaces the note rather than piling up notes.
    later = txt.rewrite(after, txt.plan({"device_name": "x1"}, False, HOSTS), "2026-02-02")
    assert later.count("# Boot of") == 1 and "2026-01-01" not in later


def test_bad_values_are_refused_with_reasons_and_the_secret_is_still_removed(
    txt: ModuleType,
) -> None:
    text = filled(device_name="-bad-", wifi_country="Germany", wifi_ssid="Acme",
                  wifi_passphrase="short", ssh_key="not a key") + "colour=blue\n"  # fmt: skip
    values, problems = txt.parse(text)
    plan = txt.plan(values, False, HOSTS)
    plan.problems = problems + plan.problems
    assert plan.files == {} and plan.hostname is None and not plan.enable_ssh
    reasons = "\n".join(plan.problems)
    for expected in ("colour", "device_name", "wifi_country", "passphrase", "ssh_key"):
        assert expected in reasons
    after = txt.rewrite(text, plan, "now")
    assert "wifi_passphrase=\n" in after and "short" not in after
    assert "NOT applied: Wi-Fi" in after


def test_an_ssh_key_or_a_file_named_ssh_turns_ssh_on(txt: ModuleType) -> None:
    keyed = txt.plan({"ssh_key": KEY}, False, HOSTS)
    assert keyed.enable_ssh and keyed.ssh_key == KEY
    flagged = txt.plan({}, True, HOSTS)
    assert flagged.enable_ssh and flagged.ssh_key is None
    two_lines = txt.plan({"ssh_key": KEY + "\nssh-rsa AAAA"}, False, HOSTS)
    assert not two_lines.enable_ssh and two_lines.problems


def test_a_card_without_settings_is_left_untouched(txt: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "pychat.txt").write_text(TEMPLATE.read_text())
    before = (tmp_path / "pychat.txt").stat().st_mtime_ns
    assert txt.main(tmp_path) == 0
    assert (tmp_path / "pychat.txt").stat().st_mtime_ns == before
