"""Where the console points people on first boot: `pychat serve` in appliance mode names
the device (`<name>.local`) and its LAN addresses, never the bind address, and the
console login banner uses the name the server announces, not the hostname."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from appliance.system.netif import interface_addresses
from appliance.tls.issue import lan_addresses
from tests.conftest import TEST_ENV
from tests.server import free_port

ROOT = Path(__file__).resolve().parents[2]
BANNER = ROOT / "image/overlay/usr/lib/pychat-image/claim-banner"


async def test_the_console_names_the_device_and_its_lan_addresses(tmp_path: Path) -> None:
    https_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        **TEST_ENV,
        "PYTHONUNBUFFERED": "1",
        "PYCHAT_SERVER_MODE": "appliance",
        "PYCHAT_SERVER_HTTPS_LISTEN": f"*:{https_port}",  # every address, as on the device
        "PYCHAT_SERVER_HTTP_LISTEN": f"*:{http_port}",
        "PYCHAT_DISCOVERY_MDNS": "off",
        "PYCHAT_TURN_ENABLED": "off",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "appliance", "serve", "--data", str(tmp_path),
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
    found = await asyncio.to_thread(lambda: lan_addresses(interface_addresses()))
    urls = [f"https://pychat.local:{https_port}"]
    urls += [f"https://{f'[{a}]' if a.version == 6 else a}:{https_port}" for a in found]
    console = "".join(lines)
    assert f"Pychat listening on {' or '.join(urls)}\n" in console, console
    assert f"open https://pychat.local:{https_port}/setup and follow" in console
    assert "0.0.0.0" not in console and "[::]" not in console
    assert "the address above" not in console
