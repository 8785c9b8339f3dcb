"""Not tests: the program test_discovery.py runs inside each network namespace.

`python -m tests.integration.test_discovery_agent` reads one JSON command per line on
stdin and writes one JSON event per line on stdout:

- `{"cmd": "serve", "name", "port", "poll", "grace", "record_in"}`: an aiohttp server on
  `port` with the
  discovery cleanup_ctx; `{"event": "name", "name"}` each time the name in use changes,
  then `{"event": "serving"}`. `{"cmd": "rename", "name"}` calls `set_name` (the former
  name is answered `grace` s more).
  `{"cmd": "stop"}` shuts it down: `{"event": "stopped"}`.
- `{"cmd": "browse"}`: a zeroconf browser for `_pychat._tcp` and `_https._tcp`;
  `{"event": "service", "change", "type", "name", "server", "port", "addresses", "txt"}`.
- `{"cmd": "watch", "host"}`: `{"event": "record", "address", "ttl"}` for every address
  record of `host` received (TTL 0: a goodbye).
- `{"cmd": "resolve", "host", "ms"}` → `{"event": "resolved", "host", "addresses"}`
  (from the cache when it can).
- `{"cmd": "ask", "name"}`: one multicast query for `<name>.local` and its instances,
  cache or not: every device that answers hears the others' answers. `{"event": "asked"}`.
- `{"cmd": "get", "url"}` → `{"event": "got", "status", "body"}`.
- `{"cmd": "name_in_use", "name", "timeout"}` → `{"event": "in_use", "name", "result"}`
  (the announcer's own check when serving, else the module-level function).
- `{"cmd": "quit"}` or end of input: stop everything and report `{"event": "bye",
  "errors", "tasks"}`: errors logged (blocking calls on the loop caught by blockbuster
  among them) and tasks left behind.

It refuses to run outside the namespace named by PYCHAT_TEST_NETNS, so it can never send
multicast on the host's interfaces.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from blockbuster import blockbuster_ctx
from zeroconf import (
    IPVersion,
    RecordUpdate,
    RecordUpdateListener,
    ServiceStateChange,
    Zeroconf,
)
from zeroconf._services.info import AddressResolver  # public, but missing from __all__
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from appliance.discovery import announcer as mdns
from appliance.discovery.names import SERVICE_TYPES, lan_addresses, probe_query
from appliance.state.app_keys import ANNOUNCER
from appliance.system.netif import interface_addresses


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(self.format(record))


class _AddressWatch(RecordUpdateListener):
    def __init__(self, host: str, emit: Any) -> None:
        self.host = host.lower()
        self.emit = emit

    def async_update_records(self, zc: Zeroconf, now: float, records: list[RecordUpdate]) -> None:
        for update in records:
            record = update.new
            if record.key == self.host and record.type in (1, 28):  # A, AAAA
                address = str(ip_address(record.address))  # type: ignore[attr-defined]
                self.emit("record", address=address, ttl=record.ttl, t=time.monotonic())


class Agent:
    def __init__(self, errors: _Errors) -> None:
        self.errors = errors
        self.out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.runner: web.AppRunner | None = None
        self.announcer: mdns.Announcer | None = None
        self.browser_zc: AsyncZeroconf | None = None
        self.browser: AsyncServiceBrowser | None = None
        self.jobs: set[asyncio.Task[None]] = set()

    def emit(self, event: str, **fields: Any) -> None:
        self.out.put_nowait({"event": event, **fields})

    async def serve(
        self, name: str, port: int, poll: float, grace: float = 0.0, record_in: str | None = None
    ) -> None:
        app = web.Application()

        async def hello(request: web.Request) -> web.Response:
            return web.Response(text="pychat")

        async def device_name() -> str:
            return name

        app.router.add_get("/", hello)
        announcer = mdns.Announcer(
            port,
            poll_interval=poll,
            rename_grace=grace,
            record_in=Path(record_in) if record_in is not None else None,
        )
        announcer.add_listener(lambda n: self.emit("name", name=n))
        app[ANNOUNCER] = announcer
        app.cleanup_ctx.append(mdns.announcer_ctx(announcer, device_name))
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "0.0.0.0", port).start()
        self.announcer = announcer
        self.emit("serving")

    async def rename(self, name: str) -> None:
        assert self.announcer is not None
        await self.announcer.set_name(name)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = self.announcer = None
        self.emit("stopped")

    async def zc(self) -> Zeroconf:
        if self.browser_zc is None:
            v4, _ = lan_addresses(await asyncio.to_thread(interface_addresses))
            self.browser_zc = AsyncZeroconf(
                interfaces=[str(a) for a in v4], ip_version=IPVersion.V4Only
            )
        return self.browser_zc.zeroconf

    async def browse(self) -> None:
        zc = await self.zc()

        def changed(
            zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
        ) -> None:
            self.spawn(self.report(zeroconf, service_type, name, state_change))

        self.browser = AsyncServiceBrowser(zc, list(SERVICE_TYPES), handlers=[changed])
        self.emit("browsing")

    async def report(self, zc: Zeroconf, kind: str, name: str, change: ServiceStateChange) -> None:
        fields: dict[str, Any] = {"change": change.name.lower(), "type": kind, "name": name}
        if change is not ServiceStateChange.Removed:
            info = AsyncServiceInfo(kind, name)
            await info.async_request(zc, 3000)
            fields |= {
                "server": info.server,
                "port": info.port,
                "addresses": sorted(info.parsed_addresses()),
                "txt": {
                    k.decode(): (v or b"").decode() for k, v in (info.properties or {}).items()
                },
            }
        self.emit("service", **fields)

    async def watch(self, host: str) -> None:
        (await self.zc()).async_add_listener(_AddressWatch(host, self.emit), None)
        self.emit("watching")

    async def resolve(self, host: str, ms: int) -> None:
        resolver = AddressResolver(host)
        await resolver.async_request(await self.zc(), ms)
        self.emit("resolved", host=host, addresses=sorted(resolver.parsed_addresses()))

    async def ask(self, name: str) -> None:
        zc = await self.zc()
        await zc.async_wait_for_start()
        zc.async_send(probe_query(name))
        self.emit("asked")

    async def get(self, url: str) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as r:
            self.emit("got", status=r.status, body=await r.text())

    async def name_in_use(self, name: str, timeout: float) -> None:
        if self.announcer is not None:
            result = await self.announcer.name_in_use(name, timeout)
        else:
            result = await mdns.name_in_use(name, timeout)
        self.emit("in_use", name=name, result=result)

    def spawn(self, job: Any) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self.jobs.add(task)
        task.add_done_callback(self.done)

    def done(self, task: asyncio.Task[None]) -> None:
        self.jobs.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.emit("failed", error=repr(task.exception()))

    async def handle(self, command: dict[str, Any]) -> None:
        cmd = command.pop("cmd")
        await getattr(self, cmd)(**command)

    async def close(self) -> None:
        for job in list(self.jobs):
            job.cancel()
        await asyncio.gather(*self.jobs, return_exceptions=True)
        if self.runner is not None:
            await self.runner.cleanup()
        if self.browser is not None:
            await self.browser.async_cancel()
        if self.browser_zc is not None:
            await self.browser_zc.async_close()


async def _write(queue: asyncio.Queue[dict[str, Any] | None]) -> None:
    while (event := await queue.get()) is not None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


async def main() -> int:
    expected = os.environ.get("PYCHAT_TEST_NETNS")
    if not expected or os.readlink("/proc/self/ns/net") != expected:
        print(json.dumps({"event": "refused", "why": "not in the test's namespace"}), flush=True)
        return 3
    errors = _Errors()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger().addHandler(errors)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, ctx: errors.seen.append(str(ctx.get("message"))))
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    agent = Agent(errors)
    writer = asyncio.create_task(_write(agent.out))
    with blockbuster_ctx(["appliance"]):
        agent.emit("hello", pid=os.getpid())
        while line := await stdin.readline():
            command = json.loads(line)
            if command["cmd"] == "quit":
                break
            agent.spawn(agent.handle(command))
        await agent.close()
    leftover = asyncio.all_tasks() - {asyncio.current_task(), writer}
    agent.emit("bye", errors=errors.seen, tasks=[repr(t) for t in leftover])
    agent.out.put_nowait(None)
    await writer
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
