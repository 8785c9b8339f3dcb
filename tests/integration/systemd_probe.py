"""The real application, started the way `pychat serve` is wired for systemd.

test_systemd_unit.py runs this as the main process of a transient copy of
systemd/pychat.service: the real app (database, routes, cleanup_ctx), the watchdog
keepalive first in cleanup_ctx, READY=1 after the listener is up, STOPPING=1 on SIGTERM.

    python systemd_probe.py --listen 127.0.0.1:PORT [--wedge-after SECONDS]

`--wedge-after` blocks the event loop for good after that long, so the watchdog fires.
The data folder is $PYCHAT_DATA.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from pathlib import Path

from aiohttp import web

from appliance.app import build_app
from appliance.config import load_settings, parse_listen
from appliance.system import systemd


async def serve(listen: str, wedge_after: float | None) -> None:
    settings = load_settings(Path(os.environ["PYCHAT_DATA"]), overrides={"server.listen": listen})
    host, port = parse_listen(settings.server.listen)
    app = build_app(settings)
    app.cleanup_ctx.insert(0, systemd.watchdog_keepalive())
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    systemd.notify_ready(f"Serving on http://{host}:{port}")
    print(f"probe listening on {host}:{port}", flush=True)
    try:
        if wedge_after is not None:
            await asyncio.sleep(wedge_after)
            print("probe: wedging the event loop", flush=True)
            time.sleep(3600)  # on purpose: a stuck loop
        await stop.wait()
        systemd.notify_stopping("Stopping")
    finally:
        await runner.cleanup()
    print("probe stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--wedge-after", type=float)
    args = parser.parse_args()
    asyncio.run(serve(args.listen, args.wedge_after))


if __name__ == "__main__":
    main()
