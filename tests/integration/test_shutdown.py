"""SIGTERM while a large upload streams in (issue 13, item 10): systemd gives the server 30 s
to stop, then kills it. It must stop in good time, cleanly: the half-received file removed
by the server itself, no upload recorded, and a clean start afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
from collections.abc import Callable

from tests.integration.uploading import admin_of, stored_blobs, temp_files
from tests.server import Server
from tests.waiting import wait_until

# A liveness bound for the test, not a benchmark: well inside systemd's TimeoutStopSec=30.
STOPPED_WITHIN_S = 15.0
BOUNDARY = "b0undary"


def uploads_recorded(srv: Server) -> int:
    db = sqlite3.connect(srv.data / "pychat.db")
    try:
        return int(db.execute("SELECT count(*) FROM uploads").fetchone()[0])
    finally:
        db.close()


async def test_sigterm_during_a_large_upload_stops_soon_and_leaves_nothing(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server()
    admin = await admin_of(srv)
    cookie = next(c for c in admin.http.cookie_jar if c.key == "pychat_session")
    await admin.close()
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file";'
        ' filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    total = 1 << 30  # announced; far more than is ever sent
    host, port = srv.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            f"POST /api/uploads HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Cookie: pychat_session={cookie.value}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(head) + total + len(BOUNDARY) + 8}\r\n\r\n"
        ).encode()
        + head
    )

    async def stream() -> None:
        # A slow, steady upload, as over a poor Wi-Fi link, until the server hangs up.
        with contextlib.suppress(OSError):
            while True:
                writer.write(os.urandom(1 << 16))
                await writer.drain()
                await asyncio.sleep(0.01)

    uploading = asyncio.create_task(stream())
    try:
        await wait_until(
            lambda: asyncio.to_thread(temp_files, srv), what="the upload is being received"
        )
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(srv.proc.wait, STOPPED_WITHIN_S)
        assert code == 0, srv.log()
    finally:
        uploading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await uploading
        writer.transport.abort()
        del reader
    # The server removed the half file itself, before it exited, and recorded nothing.
    assert temp_files(srv) == []
    assert stored_blobs(srv) == []
    assert uploads_recorded(srv) == 0
    assert "Traceback" not in srv.log(), srv.log()
    # It starts again cleanly, and nothing of that upload shows up.
    srv.start()
    admin = await admin_of(srv)
    try:
        assert (await admin.get("/api/health"))["status"] == "ok"
    finally:
        await admin.close()
    assert temp_files(srv) == [] and stored_blobs(srv) == []
    assert uploads_recorded(srv) == 0
