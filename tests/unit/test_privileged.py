"""appliance/privileged: argument validation, plans and the wire format. Nothing here
touches the host: plans are data, and the few executed steps run on files in tmp_path
or are `true` and `false`."""

from __future__ import annotations

import configparser
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.privileged import commands, validate
from appliance.privileged.commands import (
    HOSTS,
    WIFI_COUNTRY_CONF,
    WIFI_KEYFILE,
    EditFile,
    Run,
    UnknownCommand,
    WriteFile,
    build_plan,
    hosts_with_name,
    wifi_keyfile,
)
from appliance.privileged.executor import DryRun, StepFailed, SystemExecutor
from appliance.privileged.protocol import (
    MAX_LINE,
    ProtocolError,
    Reply,
    Request,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
)
from appliance.privileged.validate import InvalidArgument

# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pychat", "office-1", "a", "a" * 63, "1office", "x9"])
def test_valid_hostnames(name: str) -> None:
    assert validate.hostname(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("a" * 64, "at most 63"),
        ("Office", "must be lowercase"),
        ("-office", "not at the start or end"),
        ("office-", "not at the start or end"),
        ("off_ice", "only letters"),
        ("pychat.local", "only letters"),
        ("pych at", "only letters"),
        ("pychat\n", "only letters"),
        ("büro", "only letters"),
        ("12345", "only digits"),
        ("localhost", "reserved"),
        ("local", "reserved"),
    ],
)
def test_invalid_hostnames_are_refused_with_a_reason(name: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as e:
        validate.hostname(name)
    assert str(e.value).startswith("hostname: ")


@pytest.mark.parametrize("code", ["DE", "GB", "US", "JP", "FR"])
def test_valid_countries(code: str) -> None:
    assert validate.country(code) == code


@pytest.mark.parametrize("code", ["de", "D", "DEU", "XX", "00", "", "D E", "UK", "EU"])
def test_invalid_countries(code: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^country: "):
        validate.country(code)


def test_the_country_list_is_iso_3166() -> None:
    assert len(validate.COUNTRIES) == 249
    assert all(len(c) == 2 and c.isupper() for c in validate.COUNTRIES)


@pytest.mark.parametrize("ssid", ["Office", "Büro WLAN", "a" * 32, "ß" * 16, "x;y\\z", " lead"])
def test_valid_ssids(ssid: str) -> None:
    assert validate.ssid(ssid) == ssid


@pytest.mark.parametrize(
    "ssid", ["", "a" * 33, "ß" * 17, "a\nb", "a\x00b", "del\x7f", "a\u2028b", "\x9b", "\ud800"]
)
def test_invalid_ssids(ssid: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^ssid: "):
        validate.ssid(ssid)


@pytest.mark.parametrize(
    "secret", ["12345678", "~" * 63, " leading space", "back\\slash;semi", "ab" * 32]
)
def test_valid_passphrases(secret: str) -> None:
    assert validate.passphrase(secret) == secret


@pytest.mark.parametrize(
    "secret", ["", "1234567", "g" * 64, "x" * 65, "é" * 8, "tab\there!", "new\nline"]
)
def test_invalid_passphrases(secret: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^passphrase: ") as e:
        validate.passphrase(secret)
    assert secret not in str(e.value) or secret == ""


# --- plans --------------------------------------------------------------------------------


def test_set_hostname_plan() -> None:
    plan = build_plan("set-hostname", ["office"], None)
    assert plan[0] == Run(("hostnamectl", "set-hostname", "office"))
    assert isinstance(plan[1], EditFile) and plan[1].path == HOSTS
    debian = "127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n\n::1\tlocalhost ip6-localhost\n"
    assert plan[1].edit(debian) == (
        "127.0.0.1\tlocalhost\n127.0.1.1\toffice\n\n::1\tlocalhost ip6-localhost\n"
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("127.0.0.1 localhost\n", "127.0.0.1 localhost\n127.0.1.1\tnew\n"),
        ("127.0.1.1 a\n# note\n127.0.1.1 b\n", "127.0.1.1\tnew\n# note\n"),
        ("127.0.1.10 other\n", "127.0.1.10 other\n127.0.1.1\tnew\n"),
        ("# 127.0.1.1 old\n", "# 127.0.1.1 old\n127.0.1.1\tnew\n"),
        ("", "127.0.1.1\tnew\n"),
    ],
)
def test_hosts_edit(before: str, after: str) -> None:
    assert hosts_with_name(before, "new") == after


def test_reboot_and_shutdown_plans_queue_the_job_without_waiting() -> None:
    assert build_plan("reboot", [], None) == (Run(("systemctl", "--no-block", "reboot")),)
    assert build_plan("shutdown", [], None) == (Run(("systemctl", "--no-block", "poweroff")),)


@pytest.mark.parametrize(
    ("name", "args", "secret", "message"),
    [
        ("reboot", ["now"], None, "reboot: expects no arguments"),
        ("reboot", [], "x", "reboot: takes no passphrase"),
        ("set-hostname", [], None, "set-hostname: expects NAME"),
        ("set-hostname", ["a", "b"], None, "expects NAME"),
        ("wifi", ["DE"], "12345678", "wifi: expects COUNTRY SSID"),
        ("wifi", ["DE", "Office"], None, "wifi: needs a passphrase"),
        ("wifi", ["de", "Office"], "12345678", "country: "),
        ("wifi", ["DE", ""], "12345678", "ssid: "),
        ("wifi", ["DE", "Office"], "short", "passphrase: "),
        ("set-hostname", ["bad_name"], None, "hostname: "),
    ],
)
def test_bad_requests_never_produce_a_plan(
    name: str, args: list[str], secret: str | None, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        build_plan(name, args, secret)


def test_unknown_commands() -> None:
    with pytest.raises(UnknownCommand):
        build_plan("rm", ["-rf", "/"], None)


def test_wifi_plan() -> None:
    plan = build_plan("wifi", ["DE", "Büro"], "correct horse")
    assert [type(s) for s in plan] == [WriteFile, Run, Run, WriteFile, Run, Run]
    country, iw, radio, keyfile, load, up = plan
    assert isinstance(country, WriteFile) and isinstance(keyfile, WriteFile)
    assert country.path == WIFI_COUNTRY_CONF and country.mode == 0o644
    assert country.content == b"options cfg80211 ieee80211_regdom=DE\n"
    assert iw == Run(("iw", "reg", "set", "DE"))
    assert radio == Run(("nmcli", "radio", "wifi", "on"))
    assert keyfile.path == WIFI_KEYFILE and keyfile.mode == 0o600
    assert load == Run(("nmcli", "connection", "load", str(WIFI_KEYFILE)))
    assert up == Run(("nmcli", "--wait", "0", "connection", "up", "id", "pychat-wifi"))
    # The passphrase is in the file, nowhere else: not in argv, not in descriptions.
    assert b"psk=correct horse\n" in keyfile.content
    assert "correct horse" not in repr(plan) and "correct horse" not in DryRun().execute(plan)


def _read_keyfile(content: bytes) -> tuple[str, str]:
    """The SSID and passphrase back out of a keyfile, decoding as NetworkManager does."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(content.decode("ascii"))
    ssid = bytes(int(b) for b in parser["wifi"]["ssid"].rstrip(";").split(";")).decode()
    return ssid, _gkeyfile_unescape(parser["wifi-security"]["psk"])


def _gkeyfile_unescape(raw: str) -> str:
    """g_key_file_parse_value_as_string: \\s, \\n, \\t, \\r, \\\\ anywhere in the value."""
    out, i = [], 0
    table = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
    while i < len(raw):
        if raw[i] == "\\":
            out.append(table[raw[i + 1]])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


@pytest.mark.parametrize(
    ("psk", "written"),
    [
        ("plain pass", "plain pass"),
        ("back\\slash", "back\\\\slash"),
        ("  two leading", "\\s\\stwo leading"),
        ("trailing  ", "trailing\\s\\s"),
        ("        ", "\\s" * 8),
    ],
)
def test_passphrase_escaping(psk: str, written: str) -> None:
    assert f"\npsk={written}\n" in wifi_keyfile("x", psk).decode()
    assert _read_keyfile(wifi_keyfile("x", psk))[1] == psk


def test_keyfile_layout() -> None:
    text = wifi_keyfile("Office", "passw0rd!").decode()
    assert text.startswith("[connection]\nid=pychat-wifi\nuuid=")
    assert "\ntype=wifi\n" in text and "\nkey-mgmt=wpa-psk\n" in text
    assert "\nssid=79;102;102;105;99;101;\n" in text


@given(
    ssid=st.text(min_size=1, max_size=32).filter(
        lambda s: len(s.encode("utf-8", "surrogatepass")) <= 32
    ),
    psk=st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=8, max_size=63
    ),
)
def test_any_valid_network_round_trips_through_the_keyfile(ssid: str, psk: str) -> None:
    try:
        validate.ssid(ssid)
    except InvalidArgument:
        return
    content = wifi_keyfile(ssid, psk)
    assert content.count(b"\n") == wifi_keyfile("x", "12345678").count(b"\n")
    assert _read_keyfile(content) == (ssid, psk)


def test_every_command_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    missing = [
        c.usage() for c in commands.COMMANDS.values() if f"`pychat-helper {c.usage()}" not in doc
    ]
    assert not missing, f"commands without an entry in docs/operations.md: {missing}"


# --- the executor, on harmless targets ----------------------------------------------------


def test_dry_run_describes_without_acting(tmp_path: Path) -> None:
    target = tmp_path / "f"
    plan = (WriteFile(target, b"secret", 0o600), Run(("false",)))
    assert DryRun().execute(plan) == f"dry run: write {target} (mode 0600, 6 bytes); run false"
    assert not target.exists()


def test_write_file_is_atomic_with_the_exact_mode(tmp_path: Path) -> None:
    target = tmp_path / "conn.nmconnection"
    target.write_text("old")
    old_umask = os.umask(0o077)
    try:
        SystemExecutor().execute((WriteFile(target, b"new", 0o644),))
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"new" and (target.stat().st_mode & 0o777) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conn.nmconnection"]


def test_write_file_replaces_a_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(victim)
    SystemExecutor().execute((WriteFile(link, b"new", 0o600),))
    assert victim.read_text() == "keep" and not link.is_symlink()


def test_edit_file_in_place_and_never_through_a_symlink(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.1.1 old\n")
    inode = hosts.stat().st_ino
    SystemExecutor().execute((EditFile(hosts, lambda t: hosts_with_name(t, "new")),))
    assert hosts.read_text() == "127.0.1.1\tnew\n" and hosts.stat().st_ino == inode
    link = tmp_path / "link"
    link.symlink_to(hosts)
    with pytest.raises(StepFailed, match="cannot open"):
        SystemExecutor().execute((EditFile(link, lambda t: "x"),))
    assert hosts.read_text() == "127.0.1.1\tnew\n"


def test_a_failing_program_stops_the_plan(tmp_path: Path) -> None:
    after = tmp_path / "after"
    plan = (Run(("true",)), Run(("false",)), WriteFile(after, b"x", 0o600))
    with pytest.raises(StepFailed, match=r"^false failed \(exit status 1\)$"):
        SystemExecutor().execute(plan)
    assert not after.exists()
    with pytest.raises(StepFailed, match="is not installed"):
        SystemExecutor().execute((Run(("pychat-no-such-program",)),))


# --- the wire format ----------------------------------------------------------------------


def test_requests_and_replies_round_trip() -> None:
    for request in (Request("reboot"), Request("wifi", ("DE", "Office"), "s3cret pass")):
        assert decode_request(encode_request(request)) == request
    assert "s3cret" not in repr(Request("wifi", ("DE", "x"), "s3cret pass"))
    for reply in (Reply(True, "done"), Reply(False, "hostname: bad", "invalid_argument")):
        assert decode_reply(encode_reply(reply)) == reply


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"{}",
        b"not json\n",
        b"[]\n",
        b'{"command": "reboot"}',  # no newline
        b'{"command": "reboot"}\n{"command": "reboot"}\n',
        b'{"command": ""}\n',
        b'{"command": 7}\n',
        b'{"command": "reboot", "args": "x"}\n',
        b'{"command": "reboot", "args": [1]}\n',
        b'{"command": "wifi", "args": [], "secret": 5}\n',
        b'{"command": "reboot", "sudo": true}\n',
        b'{"command": "reboot", "command": "shutdown"}\n',
        b'{"command": "\xff"}\n',
        b'{"command": "reboot", "args": ["' + b"a" * MAX_LINE + b'"]}\n',
    ],
)
def test_malformed_requests_are_refused(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_request(line)


def test_replies_with_unknown_error_codes_are_refused() -> None:
    with pytest.raises(ProtocolError):
        decode_reply(b'{"ok": false, "message": "x", "error": "teapot"}\n')
