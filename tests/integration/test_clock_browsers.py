"""The time from browsers for a device without NTP: the real app (in this process, so the
test can point it at its own helper socket and timesyncd flag file, as the device-operations
tests do) and a real root helper service in dry-run mode. Nothing changes the host clock.

The helper's replies come in order, so a case that must NOT ask the helper is followed by
one that must: the next reply then proves nothing was asked in between.
"""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from appliance.app import build_app
from appliance.chat import setup
from appliance.config import load_settings
from appliance.privileged.protocol import Reply
from appliance.state.app_keys import BROWSER_CLOCK, SERVICES

PASSWORD = "admin-password"
DAY_MS = 86_400_000


@dataclass
class Device:
    base: str
    http: aiohttp.ClientSession  # the admin's browser (or the owner's, before setup)
    replies: queue.Queue[Reply]
    synced_flag: Path
    data: Path

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        if body is not None:
            kw["json"] = body
        async with self.http.request(method, self.base + path, **kw) as r:
            return r.status, await r.json()

    async def report(self, offset_ms: int, path: str = "/api/admin/clock") -> dict[str, Any]:
        status, body = await self.call("POST", path, {"now_ms": _now_ms() + offset_ms})
        assert status == 200, body
        return dict(body)

    async def next_reply(self) -> Reply:
        return await asyncio.to_thread(self.replies.get, timeout=10)


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _device(
    tmp_path: Path,
    replies: tuple[Path, queue.Queue[Reply]],
    *,
    mode: str = "on",
    set_up: bool = True,
) -> AsyncIterator[Device]:
    data = tmp_path / "data"
    data.mkdir()
    settings = load_settings(
        data,
        environ={"PYCHAT_AUTH_SCRYPT_N": "1024"},
        overrides={
            "server.mode": "development",
            "discovery.mdns": "off",
            "clock.from_browsers": mode,
        },
    )
    app = build_app(settings)
    browser_clock = app[BROWSER_CLOCK]
    browser_clock.helper_socket = replies[0]
    browser_clock.synced_flag = tmp_path / "timesync-synchronized"  # absent: not synced
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        if set_up:
            await setup.initialize(app[SERVICES], "Acme", "admin", PASSWORD)
        base = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            if set_up:
                body = {"username": "admin", "password": PASSWORD}
                async with http.post(f"{base}/api/auth/login", json=body) as r:
                    assert r.status == 200
            yield Device(base, http, replies[1], browser_clock.synced_flag, data)
    finally:
        await server.close()


@pytest.fixture
async def device(tmp_path: Path, helper: tuple[Path, queue.Queue[Reply]]) -> AsyncIterator[Device]:
    async for d in _device(tmp_path, helper):
        yield d


def _target_ms(reply: Reply) -> int:
    """The time a dry-run set-clock reply says it would set."""
    assert reply.ok, reply
    assert reply.message.endswith("if not synchronised; run fake-hwclock save (if installed)")
    iso = reply.message.split("set the clock forward to ", 1)[1].split(" ", 1)[0]
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


async def test_an_admin_on_a_device_90_days_behind_sets_its_clock(device: Device) -> None:
    before = _now_ms()
    answer = await device.report(90 * DAY_MS)
    assert answer["set"] is True and answer["reason"] == "set"
    assert answer["synchronized"] is False
    assert abs(answer["browser_ahead_ms"] - 90 * DAY_MS) < 5_000
    target = _target_ms(await device.next_reply())
    assert before + 90 * DAY_MS <= target <= _now_ms() + 90 * DAY_MS

    # At most one setting a minute: a second report right after is not passed on.
    again = await device.report(90 * DAY_MS)
    assert again["set"] is False and again["reason"] == "too_soon"


async def test_the_clock_is_left_alone_when_close_behind_the_browser_or_synced(
    device: Device,
) -> None:
    assert (await device.report(60_000))["reason"] == "close"  # a browser a minute ahead
    assert (await device.report(-DAY_MS))["reason"] == "device_ahead"  # never set back
    device.synced_flag.touch()  # timesyncd reached an NTP server
    synced = await device.report(90 * DAY_MS)
    assert synced == {**synced, "set": False, "reason": "synchronized", "synchronized": True}
    device.synced_flag.unlink()
    assert (await device.report(3 * 60_000))["set"] is True
    assert abs(_target_ms(await device.next_reply()) - (_now_ms() + 3 * 60_000)) < 5_000


async def test_only_admins_may_report_and_bad_times_change_nothing(device: Device) -> None:
    status, _ = await device.call(
        "POST", "/api/admin/users", {"username": "bob", "password": "bob-password-1"}
    )
    assert status == 201
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as bob:
        body = {"username": "bob", "password": "bob-password-1"}
        async with bob.post(f"{device.base}/api/auth/login", json=body) as r:
            assert r.status == 200
        report = {"now_ms": _now_ms() + 90 * DAY_MS}
        async with bob.post(f"{device.base}/api/admin/clock", json=report) as r:
            assert r.status == 403
            assert (await r.json())["error"]["code"] == "forbidden"
    async with (
        aiohttp.ClientSession() as stranger,
        stranger.post(f"{device.base}/api/admin/clock", json=report) as r,
    ):
        assert r.status == 401
    for bad in ("1795932000123", 1.5e12, True, None, -1, 10**16, 1_700_000_000_000):
        status, body = await device.call("POST", "/api/admin/clock", {"now_ms": bad})
        assert status == 400 and body["error"]["code"] == "bad_request", bad
    status, body = await device.call(
        "POST", "/api/admin/clock", {"now_ms": _now_ms()}, headers={"Origin": "http://evil"}
    )
    assert status == 403
    # None of those reached the helper: the next reply is this admin's report.
    assert (await device.report(DAY_MS))["set"] is True
    assert abs(_target_ms(await device.next_reply()) - (_now_ms() + DAY_MS)) < 5_000


async def test_the_device_page_says_whether_the_clock_is_synchronised(device: Device) -> None:
    status, info = await device.call("GET", "/api/admin/device")
    assert status == 200
    assert info["clock"]["synchronized"] is False and info["clock"]["from_browsers"] is True
    assert abs(info["clock"]["now_ms"] - _now_ms()) < 5_000
    device.synced_flag.touch()
    assert (await device.call("GET", "/api/admin/device"))[1]["clock"]["synchronized"] is True


async def test_with_the_setting_off_no_browser_sets_the_clock(
    tmp_path: Path, helper: tuple[Path, queue.Queue[Reply]]
) -> None:
    async for d in _device(tmp_path, helper, mode="off"):
        answer = await d.report(90 * DAY_MS)
        assert answer["set"] is False and answer["reason"] == "off"
        assert helper[1].empty()
        status, info = await d.call("GET", "/api/admin/device")
        assert status == 200 and info["clock"]["from_browsers"] is False


async def test_the_wizard_reports_the_time_once_the_claim_code_is_accepted(
    tmp_path: Path, helper: tuple[Path, queue.Queue[Reply]]
) -> None:
    async for owner in _device(tmp_path, helper, set_up=False):
        report = {"now_ms": _now_ms() + 90 * DAY_MS}
        status, body = await owner.call("POST", "/setup/clock", report)
        assert status == 403 and "claim code" in body["error"]["message"]
        async with owner.http.get(f"{owner.base}/setup") as r:
            assert r.status == 200
            assert "clock.js" not in await r.text()  # no script before the claim code
        code = (owner.data / "claim-code.txt").read_text().strip()
        async with owner.http.post(f"{owner.base}/setup", data={"code": code}) as r:
            assert r.status == 200 and r.url.path != "/setup"  # on to the first step
            page = await r.text()
            assert '<script src="/setup/static/clock.js" defer></script>' in page
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        async with owner.http.get(f"{owner.base}/setup/static/clock.js") as r:
            assert r.status == 200 and "/setup/clock" in await r.text()
        status, body = await owner.call(
            "POST", "/setup/clock", report, headers={"Origin": "http://evil"}
        )
        assert status == 403
        async with owner.http.post(
            f"{owner.base}/setup/clock", data="now_ms=1", headers={"Content-Type": "text/plain"}
        ) as r:
            assert r.status == 400
        answer = await owner.report(90 * DAY_MS, path="/setup/clock")
        assert answer["set"] is True
        assert abs(_target_ms(await owner.next_reply()) - (_now_ms() + 90 * DAY_MS)) < 5_000
