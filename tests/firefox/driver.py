"""A small WebDriver BiDi client for Debian's Firefox ESR, over aiohttp's WebSocket.

Firefox serves BiDi itself on --remote-debugging-port (no geckodriver). We need few
commands: a user context per person (its own cookies and storage), navigate, run a script,
real pointer and key input, the viewport, and the page's uncaught errors. Pages are read
with scripts and waited on by polling a predicate in the page, always with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

FIREFOX = Path("/usr/bin/firefox-esr")
# As generous as the Chromium suite's waits: a loaded 2-core machine.
WAIT = 20.0
LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")

# Headless, fake media, and no connection anywhere but the test's own server: updates,
# telemetry, captive portal and connectivity checks, remote settings, safe browsing,
# add-on and plug-in (OpenH264) downloads, DNS over HTTPS, push, geolocation, prefetching.
PREFS: dict[str, object] = {
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "app.normandy.api_url": "",
    "messaging-system.rsexperimentloader.enabled": False,
    "browser.backup.enabled": False,
    "browser.backup.scheduled.enabled": False,
    "app.shield.optoutstudies.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.newtabpage.enabled": False,
    "browser.aboutwelcome.enabled": False,
    "browser.search.update": False,
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.provider.google4.updateURL": "",
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.topsites.contile.enabled": False,
    "browser.ping-centre.telemetry": False,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.server": "",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    # In a loopback-only namespace Firefox would otherwise decide it is offline.
    "network.manage-offline-status": False,
    "network.trr.mode": 5,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "services.settings.server": "data:,#remote-settings-disabled",
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.blocklist.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "media.gmp-manager.url": "",
    "media.gmp-gmpopenh264.enabled": False,
    "media.gmp-gmpopenh264.autoupdate": False,
    "dom.push.connection.enabled": False,
    "dom.push.serverURL": "",
    "geo.provider.network.url": "",
    "identity.fxaccounts.enabled": False,
    # Fake camera and microphone, no permission prompts, media plays without a gesture.
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    # ICE candidates with real addresses (not .local names), loopback included.
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.peerconnection.ice.loopback": True,
    "dom.disable_beforeunload": True,
}


NETWORK_NOISE = (
    "can’t establish a connection to the server",
    "was interrupted while the page was loading",
)


class BidiError(Exception):
    pass


def user_js(prefs: Mapping[str, object]) -> str:
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


class FirefoxProcess:
    """One headless Firefox with a fresh profile, serving BiDi on a free loopback port.
    Started once for the package (a start costs seconds on a loaded machine); each test
    opens a session of its own (`Firefox`) and people of its own (user contexts)."""

    def __init__(self, profile: Path) -> None:
        if not FIREFOX.exists():
            raise RuntimeError(f"{FIREFOX} is missing: scripts/debian-packages test")
        self.output: deque[str] = deque(maxlen=200)
        if profile.exists():
            shutil.rmtree(profile)
        profile.mkdir(parents=True)
        (profile / "user.js").write_text(user_js(PREFS), encoding="utf-8")
        home = profile / "home"
        home.mkdir()
        env = {
            **os.environ,
            "HOME": str(home),
            "MOZ_HEADLESS": "1",
            "MOZ_CRASHREPORTER_DISABLE": "1",
        }
        self.process = subprocess.Popen(
            [
                str(FIREFOX),
                "-headless",
                "-no-remote",
                "-profile",
                str(profile),
                "--remote-debugging-port",
                "0",
                "about:blank",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.url = self._listening_url()
        # Keep draining its output, or Firefox blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _listening_url(self) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # ends when Firefox exits
            self.output.append(line)
            found = LISTENING.search(line)
            if found:
                return found.group(1)
        raise RuntimeError("Firefox never served BiDi:\n" + "".join(self.output))

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Firefox:
    """A test's BiDi session with the package's Firefox: its tabs, their errors."""

    process: FirefoxProcess
    ws: aiohttp.ClientWebSocketResponse | None = None
    http: aiohttp.ClientSession | None = None
    page_errors: list[str] = field(default_factory=list)
    console: deque[str] = field(default_factory=lambda: deque(maxlen=60))
    user_contexts: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _waiting: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None

    @property
    def output(self) -> deque[str]:
        return self.process.output

    async def start(self) -> Firefox:
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(f"{self.process.url}/session", max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        await self.send(
            "session.new", {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": True}}}
        )
        await self.send("session.subscribe", {"events": ["log.entryAdded"]})
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._waiting:
                future = self._waiting.pop(data["id"])
                if not future.done():
                    if data.get("type") == "error":
                        future.set_exception(
                            BidiError(f"{data.get('error')}: {data.get('message')}")
                        )
                    else:
                        future.set_result(data.get("result"))
            elif data.get("method") == "log.entryAdded":
                self._logged(data["params"])
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(BidiError("Firefox closed the BiDi connection"))

    def _logged(self, entry: Mapping[str, Any]) -> None:
        text = str(entry.get("text"))
        self.console.append(f"[{entry.get('level')}] {text}")
        csp = "Content-Security-Policy" in text or "Content Security Policy" in text
        # Firefox reports a socket it could not open as a script error; offline, that is
        # the point (the app retries), not a fault of the page.
        network = any(n in text for n in NETWORK_NOISE)
        if csp or (entry.get("type") == "javascript" and not network):
            self.page_errors.append(text)

    async def send(self, method: str, params: Mapping[str, Any], timeout: float = 60) -> Any:
        assert self.ws is not None
        command_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        await self.ws.send_str(json.dumps({"id": command_id, "method": method, "params": params}))
        return await asyncio.wait_for(future, timeout)

    async def new_tab(self, *, width: int = 1280, height: int = 800) -> Tab:
        """A tab in a user context of its own (a person of its own: cookies, storage)."""
        made = await self.send("browser.createUserContext", {})
        self.user_contexts.append(made["userContext"])
        context = await self.send(
            "browsingContext.create", {"type": "tab", "userContext": made["userContext"]}
        )
        tab = Tab(self, context["context"], made["userContext"])
        await tab.set_viewport(width, height)
        return tab

    async def close(self) -> None:
        """Closes this test's people (their tabs, cookies, storage) and ends the session;
        the process stays for the next test."""
        if self.ws is not None:
            for method, params in [
                *(("browser.removeUserContext", {"userContext": u}) for u in self.user_contexts),
                ("session.end", {}),
            ]:
                with contextlib.suppress(BidiError, TimeoutError, aiohttp.ClientError):
                    await self.send(method, params, timeout=10)  # fails when already gone
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
        if self.http is not None:
            await self.http.close()


def _value(remote: Mapping[str, Any]) -> Any:
    """A BiDi remote value as Python (what our scripts return: JSON-like data)."""
    kind = remote.get("type")
    if kind in ("undefined", "null"):
        return None
    if kind in ("string", "boolean"):
        return remote["value"]
    if kind == "number":
        v = remote["value"]
        return float(v) if isinstance(v, str) else v
    if kind == "array":
        return [_value(v) for v in remote.get("value", [])]
    if kind == "object":
        return {str(k): _value(v) for k, v in remote.get("value", [])}
    return remote


@dataclass
class Tab:
    """One browsing context: scripts run in it, input goes to it."""

    firefox: Firefox
    context: str
    user_context: str

    async def set_viewport(self, width: int, height: int) -> None:
        await self.firefox.send(
            "browsingContext.setViewport",
            {"context": self.context, "viewport": {"width": width, "height": height}},
        )

    async def set_cookie(self, url: str, name: str, value: str) -> None:
        domain = url.split("//", 1)[1].split(":", 1)[0].split("/", 1)[0]
        await self.firefox.send(
            "storage.setCookie",
            {
                "cookie": {
                    "name": name,
                    "value": {"type": "string", "value": value},
                    "domain": domain,
                    "path": "/",
                },
                "partition": {"type": "storageKey", "userContext": self.user_context},
            },
        )

    async def set_offline(self, offline: bool) -> None:
        """Takes this person's tabs off the network (navigator.onLine, the offline event,
        every request and socket failing), or back on."""
        await self.firefox.send(
            "emulation.setNetworkConditions",
            {
                "networkConditions": {"type": "offline"} if offline else None,
                "userContexts": [self.user_context],
            },
        )

    async def goto(self, url: str) -> None:
        await self.firefox.send(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    async def reload(self) -> None:
        await self.firefox.send(
            "browsingContext.reload", {"context": self.context, "wait": "complete"}
        )

    async def call(self, function: str, *args: Any, raw: bool = False) -> Any:
        """Runs `function` (source of a JS function) with JSON arguments; awaits a promise."""
        result = await self.firefox.send(
            "script.callFunction",
            {
                "functionDeclaration": function,
                "arguments": [_local(a) for a in args],
                "target": {"context": self.context},
                "awaitPromise": True,
                "userActivation": True,
            },
        )
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BidiError(f"script failed: {details.get('text')}")
        return result["result"] if raw else _value(result["result"])

    async def wait(self, predicate: str, *args: Any, what: str, timeout: float = WAIT) -> Any:
        """Polls `predicate` (a JS function) in the page until it returns something truthy
        and returns that; fails naming `what`. A reload in between is fine."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                value = await self.call(predicate, *args)
            except BidiError as error:  # the page is navigating: look again
                value, last = None, error
            if value:
                return value
            if time.monotonic() > deadline:
                text = await self.text()
                raise AssertionError(
                    f"timed out after {timeout:g}s waiting until {what} ({last})\n"
                    f"page {await self.url()}:\n{text[:1500]}"
                )
            await asyncio.sleep(0.1)

    async def url(self) -> str:
        try:
            return str(await self.call("() => location.href"))
        except BidiError:
            return "?"

    async def text(self) -> str:
        try:
            return str(await self.call("() => document.body ? document.body.innerText : ''"))
        except BidiError as error:
            return f"(unreadable: {error})"

    async def element(self, selector: str, *, timeout: float = WAIT) -> dict[str, Any]:
        """The first visible element matching `selector`, as a BiDi shared reference."""
        await self.wait(VISIBLE, selector, what=f"{selector} is visible", timeout=timeout)
        found = await self.call(
            "(s) => [...document.querySelectorAll(s)].find((e) => e.checkVisibility())",
            selector,
            raw=True,
        )
        return {"sharedId": found["sharedId"]}

    async def click(self, selector: str, *, timeout: float = WAIT) -> None:
        """A real mouse click in the middle of the element (scrolled into view first)."""
        element = await self.element(selector, timeout=timeout)
        await self.call(
            "(s) => [...document.querySelectorAll(s)].find((e) => e.checkVisibility())"
            ".scrollIntoView({block: 'center'})",
            selector,
        )
        await self.firefox.send(
            "input.performActions",
            {
                "context": self.context,
                "actions": [
                    {
                        "type": "pointer",
                        "id": "mouse",
                        "actions": [
                            {
                                "type": "pointerMove",
                                "x": 0,
                                "y": 0,
                                "origin": {"type": "element", "element": element},
                            },
                            {"type": "pointerDown", "button": 0},
                            {"type": "pointerUp", "button": 0},
                        ],
                    }
                ],
            },
        )

    async def type(self, selector: str, text: str, *, enter: bool = False) -> None:
        """Focuses the element and types `text` with real key events (then Enter)."""
        await self.click(selector)
        keys: list[dict[str, str]] = []
        for ch in text + ("\ue007" if enter else ""):
            keys += [{"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch}]
        await self.firefox.send(
            "input.performActions",
            {"context": self.context, "actions": [{"type": "key", "id": "keys", "actions": keys}]},
        )

    async def set_files(self, selector: str, paths: list[str]) -> None:
        found = await self.call("(s) => document.querySelector(s)", selector, raw=True)
        await self.firefox.send(
            "input.setFiles",
            {"context": self.context, "element": {"sharedId": found["sharedId"]}, "files": paths},
        )


def _local(value: Any) -> dict[str, Any]:
    """A Python value as a BiDi local value."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int | float):
        return {"type": "number", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, list | tuple):
        return {"type": "array", "value": [_local(v) for v in value]}
    if isinstance(value, dict):
        return {"type": "object", "value": [[str(k), _local(v)] for k, v in value.items()]}
    raise TypeError(f"cannot send {value!r} to the page")


VISIBLE = "(s) => [...document.querySelectorAll(s)].some((e) => e.checkVisibility())"
