"""mDNS discovery between hosts made of network namespaces joined by veth pairs.

Every host is a namespace of the test's own (tests/netns.py) running
tests/integration/test_discovery_agent.py: an aiohttp server with the discovery
cleanup_ctx, or a zeroconf browser. Nothing is sent on a real interface: the addresses
10.231.1.0/24 and fd00:231:1::/64 exist only inside those namespaces, which disappear at
the end of each test, failed or not. Without root or namespace support the tests skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from ipaddress import IPv4Interface, IPv6Interface, ip_address
from pathlib import Path
from typing import Any

import pytest

from appliance.discovery import announcer as mdns
from appliance.discovery.device_name import check_device_name
from appliance.discovery.names import (
    Claim,
    lan_addresses,
    with_suffix,
    yields_to,
)
from tests.netns import Netns, bridge, unavailable_reason, veth
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 10.0
PORT = 8443
Event = dict[str, Any]


class Host:
    """One agent process inside one namespace."""

    def __init__(self, ns: Netns, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.ns = ns
        self.proc = proc
        self.log = log
        self.pending: list[Event] = []
        self.seen: list[Event] = []

    async def send(self, cmd: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(
        self, what: str, match: Callable[[Event], bool], timeout: float = WAIT_S
    ) -> Event:
        """The first event (already received or still to come) that `match`es."""
        for earlier in self.pending:
            if match(earlier):
                self.pending.remove(earlier)
                return earlier
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while line := await self.proc.stdout.readline():
                    event: Event = json.loads(line)
                    self.seen.append(event)
                    if match(event):
                        return event
                    self.pending.append(event)
        except TimeoutError:
            pass
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        raise AssertionError(
            f"{self.ns.label}: no {what} within {timeout} s\nevents: {self.seen}\nlog:\n{tail}"
        )

    async def name(self, name: str | None) -> None:
        await self.expect(f"name {name}", lambda e: e["event"] == "name" and e["name"] == name)

    async def service(
        self, change: str, name: str, kind: str = "_pychat._tcp.local.", timeout: float = WAIT_S
    ) -> Event:
        full = f"{name}.{kind}"
        return await self.expect(
            f"{change} {full}",
            lambda e: e["event"] == "service" and e["change"] == change and e["name"] == full,
            timeout,
        )

    async def resolve(self, host: str, ms: int = 2000) -> list[str]:
        await self.send("resolve", host=f"{host}.local.", ms=ms)
        event = await self.expect(
            f"resolved {host}", lambda e: e["event"] == "resolved" and e["host"] == f"{host}.local."
        )
        return list(event["addresses"])

    async def in_use_answer(self, name: str) -> bool:
        """The answer to an earlier `name_in_use` command."""
        event = await self.expect(
            f"name_in_use {name}", lambda e: e["event"] == "in_use" and e["name"] == name
        )
        return bool(event["result"])

    async def quit(self) -> Event:
        """Stop the agent; its report of errors and leftover tasks."""
        await self.send("quit")
        bye = await self.expect("bye", lambda e: e["event"] == "bye")
        await asyncio.wait_for(self.proc.wait(), WAIT_S)
        return bye


class Lan:
    """Namespaces, links and agents of one test; `close()` removes all of them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.namespaces: list[Netns] = []
        self.hosts: list[Host] = []

    def netns(self, label: str) -> Netns:
        ns = Netns(label)
        self.namespaces.append(ns)
        return ns

    def pair(self) -> tuple[Netns, Netns]:
        """Two hosts on one link: 10.231.1.1 and 10.231.1.2."""
        a, b = self.netns("a"), self.netns("b")
        veth(a, "eth0", b, "eth0")
        a.configure("eth0", "10.231.1.1/24", "fd00:231:1::1/64")
        b.configure("eth0", "10.231.1.2/24", "fd00:231:1::2/64")
        return a, b

    def trio(self, *, join_b: bool = True) -> tuple[Netns, Netns, Netns]:
        """Hosts a (.1), b (.2) and c (.3) on one link, a bridge in c; b cut off unless
        `join_b` (then `join(c)` later)."""
        a, b, c = self.netns("a"), self.netns("b"), self.netns("c")
        veth(c, "to-a", a, "eth0")
        veth(c, "to-b", b, "eth0")
        bridge(c, "br0", "to-a", *(["to-b"] if join_b else []))
        a.configure("eth0", "10.231.1.1/24", "fd00:231:1::1/64")
        b.configure("eth0", "10.231.1.2/24", "fd00:231:1::2/64")
        c.configure("br0", "10.231.1.3/24", "fd00:231:1::3/64")
        return a, b, c

    async def host(self, ns: Netns) -> Host:
        log = self.tmp / f"agent-{ns.label}.log"
        env = {**os.environ, "PYCHAT_TEST_NETNS": os.readlink(ns.path)}
        argv = ns.command([sys.executable, "-m", "tests.integration.test_discovery_agent"])
        with log.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        host = Host(ns, proc, log)
        self.hosts.append(host)
        await host.expect("hello", lambda e: e["event"] == "hello")
        return host

    async def close(self) -> None:
        for host in self.hosts:
            if host.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    host.proc.kill()
                await host.proc.wait()
        for ns in self.namespaces:
            ns.close()


@pytest.fixture(scope="module")
def _namespaces_possible() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
async def lan(_namespaces_possible: None, tmp_path: Path) -> AsyncIterator[Lan]:
    lan = Lan(tmp_path)
    try:
        yield lan
    finally:
        await lan.close()


async def serve(
    host: Host, name: str, poll: float = 30.0, grace: float = 0.0, record_in: Path | None = None
) -> None:
    folder = None if record_in is None else str(record_in)
    await host.send("serve", name=name, port=PORT, poll=poll, grace=grace, record_in=folder)
    await host.expect("serving", lambda e: e["event"] == "serving")


async def finish(*hosts: Host) -> None:
    """Every agent quits cleanly: nothing logged at ERROR, no blocking call, no task left."""
    for host in hosts:
        bye = await host.quit()
        assert bye["errors"] == [], (host.ns.label, bye["errors"])
        assert bye["tasks"] == [], (host.ns.label, bye["tasks"])


async def test_a_browser_finds_resolves_and_loses_the_server(lan: Lan) -> None:
    server_ns, browser_ns = lan.pair()
    server, browser = await lan.host(server_ns), await lan.host(browser_ns)
    await browser.send("browse")
    await serve(server, "pychat-test")
    await server.name("pychat-test")

    found = await browser.service("added", "pychat-test")
    assert found["server"] == "pychat-test.local."
    assert found["port"] == PORT
    assert found["addresses"] == ["10.231.1.1", "fd00:231:1::1"]  # no loopback, no fe80::
    assert found["txt"] == {"version": "0.1.0", "path": "/"}
    https = await browser.service("added", "pychat-test", "_https._tcp.local.")
    assert https["port"] == PORT
    assert await browser.resolve("pychat-test") == ["10.231.1.1", "fd00:231:1::1"]
    await browser.send("get", url=f"http://10.231.1.1:{PORT}/")
    got = await browser.expect("got", lambda e: e["event"] == "got")
    assert (got["status"], got["body"]) == (200, "pychat")

    # Renamed (wizard, admin page): the old name is withdrawn, the new one announced.
    await server.send("rename", name="Front-Desk")
    await server.name(None)
    await server.name("front-desk")
    await browser.service("removed", "pychat-test", timeout=3)
    assert (await browser.service("added", "front-desk"))["server"] == "front-desk.local."

    await server.send("stop")
    await server.expect("stopped", lambda e: e["event"] == "stopped")
    await server.name(None)
    # Goodbye packets: the browser forgets at once, not when the TTL (75 min) runs out.
    await browser.service("removed", "front-desk", timeout=3)
    await browser.service("removed", "front-desk", "_https._tcp.local.", timeout=3)
    assert await browser.resolve("front-desk", ms=1000) == []
    await finish(server, browser)


async def test_a_second_device_with_the_same_name_takes_a_suffix(lan: Lan) -> None:
    a_ns, b_ns, c_ns = lan.trio()
    first, second, browser = await lan.host(a_ns), await lan.host(b_ns), await lan.host(c_ns)
    await serve(first, "office")
    await first.name("office")
    await browser.send("browse")
    await browser.service("added", "office")

    await serve(second, "office")
    await second.name("office-2")
    moved = await browser.service("added", "office-2")
    assert moved["server"] == "office-2.local."
    assert moved["addresses"] == ["10.231.1.2", "fd00:231:1::2"]
    assert await browser.resolve("office") == ["10.231.1.1", "fd00:231:1::1"]
    assert await browser.resolve("office-2") == ["10.231.1.2", "fd00:231:1::2"]

    # The wizard's check: names announced by others are taken, a free one is not, and a
    # device's own announcement does not count against it. All asked at once (2 s each).
    expected = {
        ("c", "office"): True,
        ("c", "office-2"): True,
        ("c", "reception"): False,
        ("a", "office"): False,
        ("a", "office-2"): True,
    }
    hosts = {"a": first, "c": browser}
    for label, name in expected:
        await hosts[label].send("name_in_use", name=name, timeout=2.0)
    answers = {(label, n): await hosts[label].in_use_answer(n) for label, n in expected}
    assert answers == expected
    assert "office-2" not in [e.get("name") for e in first.seen if e["event"] == "name"]
    await finish(first, second, browser)


async def test_when_two_networks_join_one_of_two_same_named_devices_moves_on(
    lan: Lan,
) -> None:
    """Both announce `twin` on separate links (as two devices probing at the same moment
    would); once the links are joined and both answer one query, the device without the
    greatest address (a: fd00:231:1::1 < b: fd00:231:1::2) takes `twin-2`."""
    a_ns, b_ns, c_ns = lan.trio(join_b=False)
    a, b, browser = await lan.host(a_ns), await lan.host(b_ns), await lan.host(c_ns)
    await asyncio.gather(serve(a, "twin"), serve(b, "twin"))
    await asyncio.gather(a.name("twin"), b.name("twin"))

    c_ns.ip("link", "set", "to-b", "master", "br0")
    c_ns.ip("link", "set", "to-b", "up")
    await browser.send("ask", name="twin")  # both answer by multicast and hear each other
    await a.name(None)
    await a.name("twin-2")
    assert await browser.resolve("twin-2") == ["10.231.1.1", "fd00:231:1::1"]
    assert await browser.resolve("twin") == ["10.231.1.2", "fd00:231:1::2"]
    assert [e["name"] for e in b.seen if e["event"] == "name"] == ["twin"]
    await finish(a, b, browser)


async def test_the_announcement_follows_address_changes(lan: Lan) -> None:
    server_ns, browser_ns = lan.pair()
    server, browser = await lan.host(server_ns), await lan.host(browser_ns)
    await browser.send("browse")
    await browser.send("watch", host="moving.local.")
    await serve(server, "moving", poll=0.2)
    await browser.service("added", "moving")

    server_ns.ip("addr", "add", "10.231.1.9/24", "dev", "eth0")
    await browser.expect(
        "the new address",
        lambda e: e["event"] == "service" and "10.231.1.9" in e.get("addresses", []),
    )
    assert await browser.resolve("moving") == ["10.231.1.1", "10.231.1.9", "fd00:231:1::1"]

    server_ns.ip("addr", "del", "10.231.1.9/24", "dev", "eth0")
    # A goodbye for the lost address: the browser drops it now, not in two minutes (TTL).
    await browser.expect(
        "a goodbye for 10.231.1.9",
        lambda e: e["event"] == "record" and e["address"] == "10.231.1.9" and e["ttl"] == 0,
    )
    assert await browser.resolve("moving") == ["10.231.1.1", "fd00:231:1::1"]
    await finish(server, browser)


# Rules that need no network.


def test_device_names_are_dns_labels() -> None:
    assert check_device_name(" Office-Chat ") == "office-chat"
    assert check_device_name("a" * 63) == "a" * 63
    for bad in ("", "-office", "office-", "two words", "café", "a" * 64, "a.b"):
        with pytest.raises(ValueError, match="device name"):
            check_device_name(bad)


def test_a_suffix_keeps_the_label_valid() -> None:
    assert with_suffix("office", 1) == "office"
    assert with_suffix("office", 2) == "office-2"
    long = with_suffix("a" * 62 + "b", 12)
    assert long == "a" * 60 + "-12"
    assert check_device_name(long) == long


def test_only_lan_addresses_are_announced() -> None:
    v4, v6 = lan_addresses(
        [
            IPv4Interface("127.0.0.1/8"),
            IPv6Interface("::1/128"),
            IPv4Interface("192.168.1.20/24"),
            IPv4Interface("10.0.0.5/8"),
            IPv6Interface("fe80::1/64"),
            IPv6Interface("fd00::20/64"),
            IPv6Interface("2001:db8::20/64"),
        ]
    )
    assert [str(a) for a in v4] == ["10.0.0.5", "192.168.1.20"]
    assert [str(a) for a in v6] == ["2001:db8::20", "fd00::20"]


def test_exactly_one_of_two_clashing_devices_gives_way() -> None:
    a = [ip_address("10.0.0.5"), ip_address("10.0.0.9")]
    b = [ip_address("10.0.0.7")]
    a_yields = any(yields_to(Claim(address=x), a, "x.local.") for x in b)
    b_yields = any(yields_to(Claim(address=x), b, "x.local.") for x in a)
    assert (a_yields, b_yields) == (False, True)
    assert yields_to(Claim(server="zed.local."), [], "office.local.")
    assert not yields_to(Claim(server="alpha.local."), [], "office.local.")


async def test_without_a_lan_address_nothing_is_sent_and_stop_is_clean() -> None:
    """Only loopback: no zeroconf instance, no socket, no name; stop leaves nothing behind."""
    loop = asyncio.get_running_loop()
    looked = asyncio.Queue[None]()

    def only_loopback() -> list[IPv4Interface | IPv6Interface]:
        loop.call_soon_threadsafe(looked.put_nowait, None)
        return [IPv4Interface("127.0.0.1/8"), IPv6Interface("::1/128")]

    tasks_before = asyncio.all_tasks()
    announcer = mdns.Announcer(443, poll_interval=0.01, read_addresses=only_loopback)
    names: list[str | None] = []
    announcer.add_listener(names.append)
    await announcer.start("pychat")
    for _ in range(2):  # a second look means the first one was acted on
        await asyncio.wait_for(looked.get(), WAIT_S)
    assert announcer.name is None and announcer.addresses == ()
    assert not await mdns.name_in_use("pychat", read_addresses=only_loopback)
    await announcer.stop()
    assert names == []
    assert asyncio.all_tasks() - tasks_before - {asyncio.current_task()} == set()


def test_a_bad_port_is_refused() -> None:
    with pytest.raises(ValueError, match="port"):
        mdns.Announcer(0)


async def test_after_a_rename_the_former_name_answers_for_a_while(lan: Lan, tmp_path: Path) -> None:
    """Links handed out just before a rename (the wizard's done page) keep resolving for
    the grace period (10 minutes on the device; 5 s here), then the name is withdrawn.
    The name announced is kept in the data folder for the console login banner."""
    server_ns, browser_ns = lan.pair()
    server, browser = await lan.host(server_ns), await lan.host(browser_ns)
    recorded = tmp_path / "announced-name"
    await serve(server, "first-boot", grace=5.0, record_in=tmp_path)
    await server.name("first-boot")
    await wait_until(_recorded(recorded, "first-boot\n"), what="first-boot is recorded")
    await browser.send("browse")
    await browser.service("added", "first-boot")

    await server.send("rename", name="acme-chat")
    await server.name("acme-chat")
    await browser.service("added", "acme-chat")
    # Asked afresh (not from the browser's cache): both names answer.
    await browser.send("ask", name="first-boot")
    await browser.expect("asked", lambda e: e["event"] == "asked")
    assert await browser.resolve("first-boot", ms=1000) == ["10.231.1.1", "fd00:231:1::1"]
    assert await browser.resolve("acme-chat") == ["10.231.1.1", "fd00:231:1::1"]
    assert not [e for e in browser.seen if e.get("change") == "removed"]
    await wait_until(_recorded(recorded, "acme-chat\n"), what="acme-chat is recorded")

    # Then the former name says goodbye; the new one stays.
    await browser.service("removed", "first-boot", timeout=WAIT_S)
    assert await browser.resolve("first-boot", ms=1000) == []
    assert await browser.resolve("acme-chat") == ["10.231.1.1", "fd00:231:1::1"]
    await finish(server, browser)


def _recorded(path: Path, text: str) -> Callable[[], Awaitable[bool]]:
    """Whether `path` holds `text` (read in a thread: no file I/O on the loop)."""

    def read() -> str | None:
        try:
            return path.read_text()
        except FileNotFoundError:
            return None

    async def check() -> bool:
        return await asyncio.to_thread(read) == text

    return check
