"""What the boot test does with the device, as a new owner would."""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from tests.client import Client  # the suite's own wire-contract client

from .disk import filled_pychat_txt, read_boot_file, write_boot_file
from .guest import Guest
from .turn import relay_address

# Seconds from power-on to the wizard: the bound; more only for a loaded machine.
BOOT_LIMIT = float(os.environ.get("PYCHAT_IMAGE_TEST_BOOT_LIMIT", "180"))
# Seconds of idle disk writes to count after the second boot (0: skip the measurement).
IDLE_S = float(os.environ.get("PYCHAT_IMAGE_TEST_IDLE_S", "60"))
IDLE_SETTLE_S = 30.0
PASSWORD = "image-test-password-1"  # noqa: S105  (a throwaway guest)
# What a user writes into pychat.txt before first boot (the passphrase must not survive it).
PYCHAT_TXT = {
    "device_name": "imagetest-dev",
    "wifi_country": "GB",
    "wifi_ssid": "Office",
    "wifi_passphrase": "correct-horse-1",
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


async def device_ca(guest: Guest) -> ssl.SSLContext:
    """Trust the device's own CA, fetched over plain HTTP as the trust page tells users."""
    url = f"http://127.0.0.1:{guest.http}/ca.crt"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200, resp.status
        pem = await resp.text()
    ctx = ssl.create_default_context(cadata=pem)
    ctx.check_hostname = False  # the certificate names <device>.local and the guest's address
    return ctx


def client(base: str, ctx: ssl.SSLContext) -> Client:
    c = Client(base)
    asyncio.get_running_loop().create_task(c.http.close())
    c.http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=ctx), cookie_jar=aiohttp.CookieJar(unsafe=True)
    )
    return c


async def claim_code(guest: Guest, scratch: Path, deadline: float) -> str:
    while time.monotonic() < deadline:
        text = read_boot_file(guest.overlay, guest.image, "pychat-claim-code.txt", scratch)
        found = re.search(r"Pychat claim code: (\w{4}-\w{4})", text or "")
        if found:
            return found.group(1)
        await asyncio.sleep(2)  # the guest writes the file back to its disk on its own time
    raise SystemExit("no claim code on the boot partition")


async def walk_the_wizard(base: str, ctx: ssl.SSLContext, code: str) -> None:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=ctx), cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as http:
        steps = [
            ("/setup", {"code": code}, "/setup/organisation"),
            ("/setup/organisation",
             {"org": "Image Test", "admin": "owner", "password": PASSWORD, "confirm": PASSWORD},
             "/setup/device"),
            ("/setup/device", {"device_name": "imagetest"}, "/setup/security"),
            ("/setup/security", {"certificate": "local"}, "/setup/access"),
            ("/setup/access", {"registration": "invite"}, "/setup/done"),
        ]  # fmt: skip
        for path, form, expected in steps:
            async with http.post(base + path, data=form) as resp:
                page = await resp.text()
                if resp.url.path != expected:
                    raise SystemExit(f"wizard: {path} led to {resp.url.path}:\n{page[:2000]}")
        log("wizard: setup complete")


async def first_boot(guest: Guest, scratch: Path, figures: dict[str, float]) -> str:
    """Power on a card with pychat.txt filled in; set the device up. Returns the claim code."""
    guest.create_overlay()
    text = filled_pychat_txt(guest.image, PYCHAT_TXT)
    write_boot_file(guest.overlay, guest.image, "pychat.txt", text, scratch)
    power_on = time.monotonic()
    guest.start(os.environ.get("PYCHAT_IMAGE_TEST_JOURNAL", "notice"))
    log(f"power on (serial log {guest.serial})")
    figures["boot_to_wizard_s"] = await guest.wait_for_https("/setup", power_on + BOOT_LIMIT)
    log(f"wizard answers {figures['boot_to_wizard_s']:.1f} s after power-on")
    code = await claim_code(guest, scratch, time.monotonic() + 90)
    figures["boot_to_claim_code_s"] = time.monotonic() - power_on
    log(f"claim code on the boot partition {figures['boot_to_claim_code_s']:.1f} s after power-on")
    await guest.wait_for_serial(f"type the claim code: {code}", time.monotonic() + 60)
    log("the claim code is shown on the serial console")
    await guest.wait_for_serial("https://imagetest-dev.local/setup", time.monotonic() + 10)
    after = read_boot_file(guest.overlay, guest.image, "pychat.txt", scratch) or ""
    assert "correct-horse-1" not in after, "the Wi-Fi passphrase was removed from the card"
    assert "applied: device_name=imagetest-dev" in after, after
    assert "applied: Wi-Fi network 'Office'" in after, after
    log("pychat.txt applied (device name on the console) and blanked on the card")
    return code


async def scenario(guest: Guest, scratch: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    code = await first_boot(guest, scratch, figures)
    base = f"https://127.0.0.1:{guest.https}"
    await walk_the_wizard(base, await device_ca(guest), code)
    ctx = await device_ca(guest)  # the wizard made the CA anew, named after the device

    owner = client(base, ctx)
    try:
        await owner.login("owner", PASSWORD)
        rooms = (await owner.get("/api/rooms"))["rooms"]
        room = next(r["id"] for r in rooms if r.get("name") == "general")
        sock = await owner.connect()
        body = f"hello from the image test {uuid.uuid4().hex[:8]}"
        sent = await sock.send_message(room, body)
        seen = (await owner.get(f"/api/rooms/{room}/messages"))["messages"]
        assert any(m["id"] == sent["id"] and m["body"] == body for m in seen), seen
        log(f"message {sent['id']} sent over the WebSocket and read back")
        disk = (await owner.get("/api/admin/storage"))["disk_total_bytes"]
        if "-raspios" in guest.image.name:
            # Raspberry Pi OS grows its root itself; the stand-in base does not.
            log(f"root file system {disk / 2**30:.1f} GiB (grown by Raspberry Pi OS, not us)")
        else:
            assert disk > guest.image.stat().st_size, "first boot grew the root file system"
            log(f"root file system grown to {disk / 2**30:.1f} GiB")
        turn = await owner.get("/api/turn")
        assert turn["urls"], "the device offers its TURN server to calls"
        relayed = await relay_address(guest.turn, turn["username"], turn["credential"])
        log(f"TURN on 3478 allocated a relay at {relayed[0]}:{relayed[1]} for {turn['urls'][0]}")
        clock_ahead_ms = await browser_sets_the_clock(owner)
        status, _ = await owner.call("POST", "/api/admin/device/reboot")
        assert status == 202, status
    finally:
        await owner.close()
    rebooted = time.monotonic()
    await guest.wait_until_down(rebooted + 120)
    figures["reboot_to_app_s"] = await guest.wait_for_https("/api/health", rebooted + BOOT_LIMIT)
    log(f"back after the reboot in {figures['reboot_to_app_s']:.1f} s")

    again = client(base, ctx)
    try:
        await again.login("owner", PASSWORD)
        seen = (await again.get(f"/api/rooms/{room}/messages"))["messages"]
        assert any(m["body"] == body for m in seen), "the message did not survive the reboot"
        log("the message survived the reboot")
        clock = (await again.get("/api/admin/device"))["clock"]
        assert clock["now_ms"] >= clock_ahead_ms, "fake-hwclock kept the time across the reboot"
        log("the time the browser gave survived the reboot (fake-hwclock)")
    finally:
        await again.close()
    if IDLE_S > 0:
        figures.update(await idle_writes(guest, IDLE_S))
    return figures


async def browser_sets_the_clock(owner: Client) -> int:
    """No NTP reaches the guest: an admin's browser an hour ahead sets the device's clock
    through the root helper (CAP_SYS_TIME under its sandbox), and the session survives."""
    ahead_ms = int(time.time() * 1000) + 3600_000
    status, reply = await owner.call("POST", "/api/admin/clock", {"now_ms": ahead_ms})
    assert status == 200 and reply["set"], (status, reply)
    clock = (await owner.get("/api/admin/device"))["clock"]
    assert not clock["synchronized"] and abs(clock["now_ms"] - ahead_ms) < 120_000, clock
    log("an admin's browser set the clock an hour ahead; still signed in after the step")
    return ahead_ms


async def idle_writes(guest: Guest, seconds: float) -> dict[str, Any]:
    """What the device writes to its card while nobody uses it (SD cards wear out): a
    window after the boot has settled (DHCP leases, timers and logins are written then)."""
    start = await guest.disk_counters()
    await asyncio.sleep(IDLE_SETTLE_S)  # a measurement window, like the one below
    before = await guest.disk_counters()
    await asyncio.sleep(seconds)  # the measurement window itself
    written = await guest.disk_counters() - before
    settling = before - start
    log(
        f"idle: {settling.bytes_written / 1024:.0f} KiB in {settling.writes} writes during the "
        f"first {IDLE_SETTLE_S:.0f} s after the reboot, then {written.bytes_written / 1024:.0f} "
        f"KiB in {written.writes} writes, {written.flushes} flushes in {seconds:.0f} s"
    )
    return {"idle_kib_written": written.bytes_written / 1024, "idle_writes": written.writes}
