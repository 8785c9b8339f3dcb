"""The plain-HTTP side in appliance mode: everything redirects to HTTPS, except the CA
certificate (`GET /ca.crt`) and the "how to trust this device" page (`GET /trust`), which a
device must be able to fetch before it trusts the CA.

No Strict-Transport-Security, here or anywhere: the CA is local and may change (a factory
reset, a new CA); HSTS would then lock every office browser out of the device.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import ipaddress
import logging
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..state.app_keys import DEVICE_TLS, HTTPS_PORT, OWN_HOSTS
from ..system.netif import IPInterface, interface_addresses
from ..tls.device import DeviceTls
from ..tls.trust import TRUST_STEPS, ca_file_name

OWN_HOSTS_TTL_S = 10.0  # an address added by DHCP is redirected to within seconds
# A redirect is cached by browsers; a day lets a changed HTTPS port take effect.
REDIRECT_MAX_AGE_S = 86400
_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*\.?")

# Light and dark as the system asks (the app's colours), every text at 4.5:1 or more.
_STYLE = (
    ":root{color-scheme:light dark}"
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1d2330;background:#fff}"
    "h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:1.6rem}a{color:#2f62e0}"
    "code{font-size:.95rem;word-break:break-all;background:#eef1f6;padding:.1rem .3rem}"
    "a.button{display:inline-block;background:#3558d4;color:#fff;padding:.5rem 1rem;"
    "border-radius:.4rem;text-decoration:none}"
    "@media (prefers-color-scheme:dark){body{color:#e6e8ec;background:#16181d}"
    "a{color:#8fb0ff}code{background:#22262e}a.button{background:#8fb0ff;color:#0b0d12}}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
# No script, no images, no frames, no forms: only the one inline style above, by its hash.
PAGE_CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none';"
    " form-action 'none'; frame-ancestors 'none'"
)
_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)


def build_redirect_app(device_tls: DeviceTls, *, https_port: int) -> web.Application:
    """The app for `server.http_listen`. `https_port` is the port HTTPS really listens on."""
    app = web.Application(middlewares=[_headers_middleware], client_max_size=1024)
    app[DEVICE_TLS] = device_tls
    app[HTTPS_PORT] = https_port
    add_trust_routes(app)
    app.router.add_route("*", "/{tail:.*}", redirect_to_https)
    return app


def add_trust_routes(
    app: web.Application, addresses: Callable[[], list[IPInterface]] = interface_addresses
) -> None:
    """`GET /ca.crt` and `GET /trust`; the HTTPS app may add them too (app[DEVICE_TLS] set)."""
    if OWN_HOSTS not in app:
        app[OWN_HOSTS] = OwnHosts(app[DEVICE_TLS], addresses)
    app.router.add_get("/ca.crt", ca_certificate)
    app.router.add_get("/trust", trust_page)


@web.middleware
async def _headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as e:
        e.headers.update(_COMMON_HEADERS)
        raise
    response.headers.update(_COMMON_HEADERS)
    return response


class OwnHosts:
    """The names and addresses this device answers to: its name, `<name>.local`, the names
    and addresses on its certificate, and the addresses of its interfaces. Read again at
    most every OWN_HOSTS_TTL_S, so a flood of requests costs no more interface dumps."""

    def __init__(self, device_tls: DeviceTls, addresses: Callable[[], list[IPInterface]]) -> None:
        self.device_tls = device_tls
        self._addresses = addresses
        self._hosts: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> frozenset[str]:
        async with self._lock:
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= OWN_HOSTS_TTL_S:
                self._hosts = await self._read()
                self._read_at = now
            return self._hosts

    async def _read(self) -> frozenset[str]:
        hosts: set[str] = set()
        name = self.device_tls.name
        if name:
            hosts |= {name, f"{name}.local"}
        try:
            info = await self.device_tls.info()
            hosts |= {n.lower() for n in info.names} | {_ip_host(a) for a in info.addresses}
        except RuntimeError:  # no certificate loaded yet
            pass
        try:
            found = await asyncio.to_thread(self._addresses)
        except OSError as e:
            log.warning("could not read the interface addresses: %s", e)
            found = []
        hosts |= {_ip_host(str(iface.ip)) for iface in found}
        return frozenset(hosts)


def _ip_host(address: str) -> str:
    """An IP address as it appears in a Host header (IPv6 in brackets, compressed)."""
    ip = ipaddress.ip_address(address)
    return f"[{ip}]" if ip.version == 6 else str(ip)


async def https_origin(request: web.Request, https_port: int) -> str:
    """`https://<host of the request, without its port>[:<https port unless 443>]`, when
    that host is one of the device's own names or addresses; else its canonical name, so a
    forged Host header never sends a browser (and what it posts) to another machine."""
    canonical = f"{request.app[DEVICE_TLS].name or 'pychat'}.local"
    host = _request_host(request.headers.get("Host", ""))
    if host is None or host not in await request.app[OWN_HOSTS].get():
        host = canonical
    return f"https://{host}" + ("" if https_port == 443 else f":{https_port}")


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _request_host(raw: str) -> str | None:
    """The host named by a Host header, without its port, or None when it is missing or
    malformed (a redirect never carries anything but a host name or an IP literal)."""
    raw = raw.strip().lower()
    if raw.startswith("["):
        literal, _, rest = raw[1:].partition("]")
        if rest and not (rest.startswith(":") and _digits(rest[1:])):
            return None
        try:
            return f"[{ipaddress.IPv6Address(literal)}]"
        except ValueError:
            return None
    host, _, port = raw.partition(":")
    if port and not _digits(port):
        return None
    if len(host) <= 253 and _HOSTNAME.fullmatch(host):
        return host.rstrip(".")
    return None


async def redirect_to_https(request: web.Request) -> web.StreamResponse:
    """301 for GET and HEAD (understood by every client); 308 otherwise, so a POST stays a
    POST. Cached for a day only: the HTTPS port or the CA may change."""
    location = await https_origin(request, request.app[HTTPS_PORT]) + request.rel_url.raw_path_qs
    status = 301 if request.method in ("GET", "HEAD") else 308
    return web.Response(
        status=status,
        headers={"Location": location, "Cache-Control": f"max-age={REDIRECT_MAX_AGE_S}"},
    )


async def ca_certificate(request: web.Request) -> web.StreamResponse:
    device_tls = request.app[DEVICE_TLS]
    if not device_tls.ca_pem:  # no certificate made yet (development mode before setup)
        raise web.HTTPNotFound()
    return web.Response(
        body=device_tls.ca_pem,
        headers={
            "Content-Type": "application/x-x509-ca-cert",
            "Content-Disposition": f'attachment; filename="{ca_file_name(device_tls.name)}"',
            "Cache-Control": "no-cache",
        },
    )


async def trust_page(request: web.Request) -> web.StreamResponse:
    device_tls = request.app[DEVICE_TLS]
    port = request.app.get(HTTPS_PORT)
    if port is None:  # served by the HTTPS app itself
        port = int(request.url.port or 443) if request.secure else 443
    origin = await https_origin(request, port)
    file_name = ca_file_name(device_tls.name)
    sections = []
    for entry in TRUST_STEPS:
        steps = "".join(
            f"<li>{html.escape(step.replace('{file}', file_name))}</li>" for step in entry.steps
        )
        sections.append(f"<h2>{html.escape(entry.system)}</h2><ol>{steps}</ol>")
    name = html.escape(f"{device_tls.name}.local")
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trust {name}</title><style>{_STYLE}</style></head><body>
<main>
<h1>Trust this Pychat device</h1>
<p>{name} uses HTTPS with a certificate from its own certificate authority (CA). Trust the
CA once on each computer or phone, and the browser will open {name} without warnings.</p>
<p><a class="button" href="/ca.crt" download="{html.escape(file_name)}">Download the
certificate</a></p>
<p>Before you trust it, check that its SHA-256 fingerprint is the one shown by the setup
wizard or on the admin page's Device section:</p>
<p><code>{html.escape(device_tls.ca_fingerprint)}</code></p>
{"".join(sections)}
<h2>Then</h2>
<p><a href="{html.escape(origin)}/">Open Pychat</a></p>
</main>
</body></html>
"""
    return web.Response(
        text=body,
        content_type="text/html",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
    )
