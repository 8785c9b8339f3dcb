"""Where the console points people on first boot: `pychat serve` in appliance mode names
the device (`<name>.local`) and its LAN addresses, never the bind address, and the
console login banner uses the name the server announces, not the hostname."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.discovery.open_at import ANNOUNCED_NAME_FILE
from appliance.system.netif import interface_addresses
from appliance.tls.issue import lan_addresses
from tests.conftest import TEST_ENV
from tests.server import free_port

ROOT = Path(__file__).resolve().parents[2]
BANNER = ROOT / "image/overlay/usr/lib/pychat-image/claim-banner"


async def _first_console(
    data: Path, https_port: int, http_port: int, extra: dict[str, str], prefix: list[str]
) -> str:
    """What `pychat serve` prints on a device not set up yet, up to its setup hint."""
    env = {
        **os.environ,
        **TEST_ENV,
        "PYTHONUNBUFFERED": "1",
        "PYCHAT_SERVER_MODE": "appliance",
        "PYCHAT_SERVER_HTTPS_LISTEN": f"*:{https_port}",  # every address, as on the device
        "PYCHAT_SERVER_HTTP_LISTEN": f"*:{http_port}",
        "PYCHAT_DISCOVERY_MDNS": "off",
        "PYCHAT_TURN_ENABLED": "off",
        **extra,
    }
    proc = await asyncio.create_subprocess_exec(
        *prefix, sys.executable, "-m", "appliance", "serve", "--data", str(data),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=ROOT,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while not any("not set up yet" in line for line in lines):
                line = (await proc.stdout.readline()).decode()
                assert line, "".join(lines)
                lines.append(line)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    return "".join(lines)


async def test_the_console_names_the_device_and_its_lan_addresses(tmp_path: Path) -> None:
    https_port, http_port = free_port(), free_port()
    console = await _first_console(tmp_path, https_port, http_port, {}, [])
    found = await asyncio.to_thread(lambda: lan_addresses(interface_addresses()))
    urls = [f"https://pychat.local:{https_port}"]
    urls += [f"https://{f'[{a}]' if a.version == 6 else a}:{https_port}" for a in found]
    assert f"Pychat listening on {' or '.join(urls)}\n" in console, console
    assert f"open https://pychat.local:{https_port}/setup and follow" in console
    assert "0.0.0.0" not in console and "[::]" not in console
    assert "the address above" not in console


def _can_unshare(flag: str) -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(["unshare", flag, "true"], capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.skipif(not _can_unshare("-u"), reason="needs root and UTS namespaces")
async def test_before_setup_the_appliance_answers_to_its_hostname(tmp_path: Path) -> None:
    """pychat.txt's `device_name=office-dev` set the hostname before the first boot: the
    device is office-dev.local from then on, in the console, in the certificate and in the
    wizard's suggestion, not pychat.local (which the admin never wrote)."""
    https_port, http_port = free_port(), free_port()
    # A UTS namespace of its own: this machine's hostname stays as it is.
    script = 'hostname office-dev && exec "$@"'
    console = await _first_console(
        tmp_path, https_port, http_port, {"PYCHAT_DISCOVERY_NAME_BEFORE_SETUP": "hostname"},
        ["unshare", "-u", "sh", "-c", script, "sh"],
    )  # fmt: skip
    assert f"Pychat listening on https://office-dev.local:{https_port}" in console, console
    assert f"open https://office-dev.local:{https_port}/setup and follow" in console
    assert "pychat.local" not in console


def _can_unshare_mounts() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.skipif(not _can_unshare_mounts(), reason="needs root and mount namespaces")
@pytest.mark.parametrize(
    ("recorded", "shown"),
    [("pychat-2\n", "pychat-2"), (None, "HOST"), ("not a name\n", "HOST")],
)
async def test_the_login_banner_names_the_device_the_server_announces(
    recorded: str | None, shown: str
) -> None:
    """A second device that fell back to `pychat-2` must not point people at the first
    one (its hostname is still `pychat`). Run in a mount namespace of its own: /var/lib and
    /run are empty tmpfs there, so nothing of this machine is read or written."""
    write = (
        "" if recorded is None else f"printf '{recorded}' > /var/lib/pychat/{ANNOUNCED_NAME_FILE}"
    )
    script = f"""
set -eu
mount -t tmpfs none /var/lib
mount -t tmpfs none /run
mkdir /var/lib/pychat
{write}
sh {BANNER}
cat /run/pychat-issue
"""
    done = await asyncio.to_thread(
        subprocess.run,
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    host = (await asyncio.to_thread(subprocess.check_output, ["hostname"], text=True)).strip()
    name = host if shown == "HOST" else shown
    assert f"Pychat: https://{name}.local (or https://\\4)" in done.stdout, done.stdout
