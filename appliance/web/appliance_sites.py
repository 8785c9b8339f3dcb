"""Appliance-mode listeners: HTTPS on `server.https_listen` with the device's certificate,
and the redirecting plain-HTTP app on `server.http_listen` (tls/renewal.py keeps the
certificate renewed).

    app.cleanup_ctx.append(tls_renewal(device_tls))   # in build_app, after the database
    ...
    await runner.setup()                              # makes or renews the certificate
    sites = await start_appliance_sites(runner, settings, device_tls)
    ...
    await sites.stop(); await runner.cleanup()
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..config import Settings, parse_listen
from ..tls.device import DeviceTls
from .connections import ConnectionGuard, runner_options
from .guarded_site import GuardedSite
from .https_redirect import build_redirect_app


@dataclass
class ApplianceSites:
    https_url: str
    http_url: str
    https_port: int
    http_port: int
    _http_runner: web.AppRunner

    async def stop(self) -> None:
        """Stop the plain-HTTP side (the caller's runner owns the HTTPS site)."""
        await self._http_runner.cleanup()


def _bind(host: str) -> str | None:
    """`*` listens on every address of both families (`0.0.0.0` is IPv4 only, and asyncio
    makes `::` IPv6 only), so that `<name>.local`'s AAAA records lead somewhere too."""
    return None if host == "*" else host


def _url(scheme: str, address: tuple[str, int]) -> str:
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    return f"{scheme}://{host}:{address[1]}"


async def start_appliance_sites(
    runner: web.AppRunner,
    settings: Settings,
    device_tls: DeviceTls,
    *,
    guard: ConnectionGuard | None = None,
    backlog: int | None = None,
) -> ApplianceSites:
    """Start HTTPS for `runner`'s app with the device's SSLContext, then the plain-HTTP app
    that redirects to it (told the port HTTPS really got, for `:0` in tests). Both count
    their connections in `guard` (one made from `settings` if not given).

    `runner` must be set up (so `tls_renewal` has loaded a certificate)."""
    if guard is None:
        guard = ConnectionGuard.from_settings(settings)
    https_host, https_port = parse_listen(settings.server.https_listen, name="server.https_listen")
    http_host, http_port = parse_listen(settings.server.http_listen, name="server.http_listen")
    if device_tls.ca_fingerprint == "":
        raise RuntimeError("the certificate is not loaded: add tls_renewal() to cleanup_ctx")
    before = set(runner.addresses)
    https = GuardedSite(
        runner,
        _bind(https_host),
        https_port,
        guard=guard,
        ssl_context=device_tls.context,
        backlog=backlog,
    )
    await https.start()
    https_bound = next(a for a in runner.addresses if a not in before)
    http_runner = web.AppRunner(
        build_redirect_app(device_tls, https_port=https_bound[1]),
        handle_signals=False,
        access_log=None,
        **runner_options(settings),
    )
    await http_runner.setup()
    try:
        await GuardedSite(
            http_runner, _bind(http_host), http_port, guard=guard, backlog=backlog
        ).start()
    except BaseException:
        await http_runner.cleanup()
        raise
    http_bound = http_runner.addresses[0]
    return ApplianceSites(
        https_url=_url("https", https_bound),
        http_url=_url("http", http_bound),
        https_port=https_bound[1],
        http_port=http_bound[1],
        _http_runner=http_runner,
    )
