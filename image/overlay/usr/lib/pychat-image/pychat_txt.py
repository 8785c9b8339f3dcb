"""Apply pychat.txt, the settings a user may edit on the boot partition before first boot.

Runs as root early at every boot (pychat-txt.service), before the network starts. Each
setting is applied once: afterwards the file is written back with the values removed
(the Wi-Fi passphrase above all) and a comment saying what was done or what was wrong.
Validation and file contents come from the appliance's own privileged helper
(appliance.privileged), so that pychat.txt and the admin page accept exactly the same
values. Planning is pure (tests/image/test_pychat_txt.py); only `apply` touches the system.
"""

# ruff: noqa: S603  (fixed programs by absolute path; arguments validated above)
from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from appliance.privileged import commands, validate
from appliance.system import durable

BOOT = Path("/boot/firmware")
MAX_BYTES = 64 * 1024
FIELDS = ("device_name", "wifi_country", "wifi_ssid", "wifi_passphrase", "ssh_key")
SECRETS = frozenset({"wifi_passphrase"})
_SSH_KEY = re.compile(
    r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [ -~]{0,200})?"
)
ROOT_KEYS = Path("/root/.ssh/authorized_keys")


@dataclass
class Plan:
    """What pychat.txt asks for, validated: files to write and switches to flip."""

    hostname: str | None = None
    files: dict[Path, tuple[bytes, int]] = field(default_factory=dict)
    wifi_country: str | None = None
    ssh_key: str | None = None
    enable_ssh: bool = False
    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse(text: str) -> tuple[dict[str, str], list[str]]:
    """`key=value` lines; `#` starts a comment line. Unknown keys and junk are problems."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        if not sep:
            problems.append(f"line {number}: not of the form name=value")
            continue
        if key not in FIELDS:
            problems.append(f"line {number}: {key[:40]!r} is not one of {', '.join(FIELDS)}")
            continue
        values[key] = value.strip()
    return values, problems


def plan(values: dict[str, str], ssh_flag: bool, hosts: str) -> Plan:
    """Validate every value and decide what to do. Pure."""
    p = Plan(enable_ssh=ssh_flag)
    if ssh_flag:
        p.done.append("SSH enabled (a file named ssh was on the boot partition)")
    name = values.get("device_name", "")
    if name:
        try:
            p.hostname = validate.hostname(name.lower())
            p.files[Path("/etc/hostname")] = (f"{p.hostname}\n".encode(), 0o644)
            p.files[commands.HOSTS] = (commands.hosts_with_name(hosts, p.hostname).encode(), 0o644)
            p.done.append(f"device_name={p.hostname}")
        except validate.InvalidArgument as e:
            p.problems.append(f"device_name: {e}")
    country = values.get("wifi_country", "")
    if country:
        try:
            p.wifi_country = validate.country(country.upper())
            line = f"options cfg80211 ieee80211_regdom={p.wifi_country}\n"
            p.files[commands.WIFI_COUNTRY_CONF] = (line.encode(), 0o644)
            p.done.append(f"wifi_country={p.wifi_country}")
        except validate.InvalidArgument as e:
            p.problems.append(f"wifi_country: {e}")
    ssid, psk = values.get("wifi_ssid", ""), values.get("wifi_passphrase", "")
    if ssid or psk:
        try:
            network = validate.ssid(ssid)
            secret = validate.passphrase(psk)
            p.files[commands.WIFI_KEYFILE] = (commands.wifi_keyfile(network, secret), 0o600)
            p.done.append(f"Wi-Fi network {network!r} (the passphrase was removed from this file)")
        except validate.InvalidArgument as e:
            p.problems.append(f"Wi-Fi: {e} (the passphrase was removed from this file)")
    key = values.get("ssh_key", "")
    if key:
        if len(key) <= 16 * 1024 and _SSH_KEY.fullmatch(key):
            p.ssh_key = key
            p.enable_ssh = True
            p.done.append("ssh_key added for root; SSH enabled")
        else:
            p.problems.append("ssh_key: not an OpenSSH public key on one line")
    return p


def rewrite(text: str, p: Plan, when: str) -> str:
    """pychat.txt with every value removed, and a note of what happened at this boot."""
    out: list[str] = []
    for raw in text.splitlines():
        key, sep, _ = raw.strip().partition("=")
        if sep and key.strip().lower() in FIELDS:
            out.append(f"{key.strip().lower()}=")
        elif raw.startswith("# Boot of ") or raw.startswith("#   "):
            continue  # the note of an earlier boot
        else:
            out.append(raw)
    while out and not out[-1].strip():
        out.pop()
    if p.done or p.problems:
        out += ["", f"# Boot of {when}:"]
        out += [f"#   applied: {item}" for item in p.done]
        out += [f"#   NOT applied: {item}" for item in p.problems]
    return "\n".join(out) + "\n"


def apply(p: Plan) -> None:
    """Carry out a plan as root."""
    for path, (data, mode) in p.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        durable.write_file(path, data, mode=mode)
    if p.hostname:
        subprocess.run(["/usr/bin/hostname", p.hostname], check=False)
    if p.wifi_country:
        subprocess.run(["/usr/sbin/iw", "reg", "set", p.wifi_country], check=False)
    if p.ssh_key:
        ROOT_KEYS.parent.mkdir(mode=0o700, exist_ok=True)
        existing = ROOT_KEYS.read_text() if ROOT_KEYS.exists() else ""
        if p.ssh_key not in existing.splitlines():
            durable.write_file(ROOT_KEYS, (existing + p.ssh_key + "\n").encode(), mode=0o600)
    if p.enable_ssh:
        subprocess.run(["/usr/bin/systemctl", "enable", "ssh.service"], check=False)
        # --no-block: this unit runs early; ssh starts once its own ordering allows.
        subprocess.run(["/usr/bin/systemctl", "--no-block", "start", "ssh.service"], check=False)


def main(boot: Path = BOOT) -> int:
    config, flag = boot / "pychat.txt", boot / "ssh"
    ssh_flag = flag.exists() or (boot / "ssh.txt").exists()
    text = ""
    if config.exists():
        if config.stat().st_size > MAX_BYTES:
            print(f"{config} is larger than {MAX_BYTES} bytes; ignored", file=sys.stderr)
        else:
            text = config.read_text(encoding="utf-8", errors="replace")
    values, problems = parse(text)
    if not any(values.values()) and not ssh_flag and not problems:
        return 0
    hosts = commands.HOSTS.read_text() if commands.HOSTS.exists() else ""
    p = plan(values, ssh_flag, hosts)
    p.problems = problems + p.problems
    # The secrets leave the card, durably (a power cut must not bring them back), before
    # anything else happens.
    if text:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        durable.write_file(config, rewrite(text, p, when).encode(), mode=0o644)
    for name in ("ssh", "ssh.txt"):
        (boot / name).unlink(missing_ok=True)
    apply(p)
    for item in p.done:
        print(f"pychat.txt: applied {item}")
    for item in p.problems:
        print(f"pychat.txt: NOT applied: {item}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else BOOT))
