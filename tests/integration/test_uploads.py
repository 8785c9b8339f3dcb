"""Uploads over real HTTP: who may fetch a file, limits and quotas, ranges, hostile names
and types, and an upload cut off halfway."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from collections.abc import Callable

from tests.client import Client
from tests.conftest import UserFactory, new_room
from tests.integration.uploading import (
    admin_of,
    fetch,
    send_upload,
    stored_blobs,
    temp_files,
    upload,
)
from tests.recordings import recording
from tests.server import Server
from tests.waiting import wait_until

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def test_members_fetch_a_posted_file_and_outsiders_get_404(make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room = await new_room(alice, bob)
    sent = await upload(alice, PDF, name="minutes.pdf", content_type="application/pdf")
    assert sent["name"] == "minutes.pdf" and sent["size"] == len(PDF)
    assert sent["mime"] == "application/pdf" and sent["thumb_url"] is None
    assert sent["url"] == f"/api/uploads/{sent['id']}/minutes.pdf"

    # Before it is posted only the uploader sees it; bob gets the 404 of a missing file.
    assert (await fetch(alice, sent["url"]))[:2] == (200, PDF)
    missing_status, missing_body, _ = await fetch(bob, "/api/uploads/999999999/x")
    assert (await fetch(bob, sent["url"]))[:2] == (missing_status, missing_body)
    assert missing_status == 404

    sock = await alice.connect()
    await sock.send_message(room["id"], "", attachments=[sent["id"]])
    status, body, headers = await fetch(bob, sent["url"])
    assert (status, body) == (200, PDF)
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == "inline; filename*=UTF-8''minutes.pdf"
    # Browsers will not show a PDF in a sandbox; it still may load nothing else.
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["X-Content-Type-Options"] == "nosniff"
    # carol is not in the room: exactly the answer for a file that never existed.
    assert (await fetch(carol, sent["url"]))[:2] == (missing_status, missing_body)
    assert (await fetch(carol, f"/api/uploads/{sent['id']}/thumb"))[0] == 404
    # Signed out: nothing.
    anonymous = Client(alice.base_url)
    try:
        assert (await fetch(anonymous, sent["url"]))[0] == 401
    finally:
        await anonymous.close()


async def test_a_file_over_the_limit_is_refused_with_the_limit(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({"PYCHAT_UPLOADS_MAX_BYTES": "5000"})
    admin = await admin_of(srv)
    try:
        status, body = await send_upload(admin, b"x" * 5001)
        assert status == 413 and body["error"]["code"] == "too_large"
        assert "5000" in body["error"]["message"]
        # Announced bigger than the limit: refused before the body is read.
        status, body = await send_upload(admin, b"z" * 100_000)
        assert status == 413 and "5000" in body["error"]["message"]
        # Exactly at the limit is fine; nothing of the refused ones stayed behind.
        await upload(admin, b"y" * 5000)
        assert len(stored_blobs(srv)) == 1 and temp_files(srv) == []
    finally:
        await admin.close()


async def test_user_quota_refuses_with_a_clear_error(make_server: Callable[..., Server]) -> None:
    srv = make_server({"PYCHAT_UPLOADS_USER_QUOTA_BYTES": "10000"})
    admin = await admin_of(srv)
    try:
        await upload(admin, os.urandom(6000))
        status, body = await send_upload(admin, os.urandom(6000))
        assert status == 413 and body["error"]["code"] == "quota_exceeded"
        assert "quota" in body["error"]["message"]
        assert len(stored_blobs(srv)) == 1 and temp_files(srv) == []
    finally:
        await admin.close()


async def test_total_quota_counts_identical_files_once(make_server: Callable[..., Server]) -> None:
    srv = make_server({"PYCHAT_UPLOADS_TOTAL_QUOTA_BYTES": "10000"})
    admin = await admin_of(srv)
    try:
        same = os.urandom(6000)
        first, again = await upload(admin, same), await upload(admin, same, name="copy.bin")
        assert first["id"] != again["id"]
        assert len(stored_blobs(srv)) == 1  # stored once
        status, body = await send_upload(admin, os.urandom(6000))
        assert status == 413 and body["error"]["code"] == "quota_exceeded"
        assert "everyone" in body["error"]["message"]
    finally:
        await admin.close()


async def test_disk_reserve_refuses_with_507(make_server: Callable[..., Server]) -> None:
    srv = make_server({"PYCHAT_UPLOADS_DISK_RESERVE_BYTES": str(1 << 50)})
    admin = await admin_of(srv)
    try:
        status, body = await send_upload(admin, b"hello")
        assert status == 507 and body["error"]["code"] == "insufficient_storage"
        assert "database" in body["error"]["message"]
        assert stored_blobs(srv) == [] and temp_files(srv) == []
        # The rest of the app still works.
        status, _ = await admin.call("GET", "/api/rooms")
        assert status == 200
    finally:
        await admin.close()


async def test_range_requests_etag_and_caching(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    sent = await upload(alice, recording(6), name="note.webm", content_type="audio/webm")
    assert sent["mime"] == "audio/webm" and 5_900 <= sent["duration_ms"] <= 6_100
    data = (await fetch(alice, sent["url"]))[1]  # the recording as remuxed on upload
    assert len(data) > 90_000

    status, body, headers = await fetch(alice, sent["url"], headers={"Range": "bytes=1000-1999"})
    assert status == 206 and body == data[1000:2000]
    assert headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    status, body, _ = await fetch(alice, sent["url"], headers={"Range": "bytes=-500"})
    assert status == 206 and body == data[-500:]
    status, _, headers = await fetch(alice, sent["url"], headers={"Range": "bytes=200000-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"

    status, body, headers = await fetch(alice, sent["url"])
    assert status == 200 and body == data and headers["Accept-Ranges"] == "bytes"
    etag = headers["ETag"]
    assert len(etag.strip('"')) == 64  # the content hash
    assert headers["Cache-Control"] == "private, no-cache"  # access is checked on every use
    status, body, _ = await fetch(alice, sent["url"], headers={"If-None-Match": etag})
    assert status == 304 and body == b""


async def test_a_hostile_name_is_stored_and_served_safely(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    hostile = "../../../etc/passwd; rm -rf ~ $(reboot) `id` |&<>\"'\\..\\x.txt"
    sent = await upload(alice, b"just text\n", name=hostile, content_type="text/plain")
    assert "/" not in sent["name"] and "\\" not in sent["name"]
    assert not sent["name"].startswith(".")
    status, body, headers = await fetch(alice, sent["url"])
    assert status == 200 and body == b"just text\n"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    disposition = headers["Content-Disposition"]
    prefix = "inline; filename*=UTF-8''"
    assert disposition.startswith(prefix)
    # Percent-encoded to the last character: no quote, semicolon or space to break out with.
    assert re.fullmatch(r"[A-Za-z0-9%._~-]+", disposition.removeprefix(prefix))


async def test_hostile_name_on_disk(make_server: Callable[..., Server]) -> None:
    srv = make_server()
    admin = await admin_of(srv)
    try:
        sent = await upload(admin, b"data", name="../../../../tmp/evil; touch pwned")
        assert sent["name"] == "evil; touch pwned"
        assert all(len(p.parent.name + p.name) == 64 for p in stored_blobs(srv))
        assert not (srv.data.parent / "pwned").exists()
        everything = [p.name for p in srv.data.rglob("*")]
        assert not any("evil" in n or "pwned" in n for n in everything)
    finally:
        await admin.close()


async def test_html_and_svg_are_never_served_inline(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    html = b"<!doctype html><script>alert(document.cookie)</script>"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    cases = [
        (html, "page.html", "text/html"),
        (svg, "logo.svg", "image/svg+xml"),
        (html, "fake.png", "image/png"),  # lies about its type
        (svg, "fake.txt", "text/plain; charset=utf-8"),  # shows as text at worst
    ]
    for data, name, declared in cases[:3]:
        sent = await upload(alice, data, name=name, content_type=declared)
        assert sent["mime"] == "application/octet-stream", name
        status, body, headers = await fetch(alice, sent["url"])
        assert status == 200 and body == data
        assert headers["Content-Type"] == "application/octet-stream"
        assert headers["Content-Disposition"].startswith("attachment;")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in headers["Content-Security-Policy"]
        assert "default-src 'none'" in headers["Content-Security-Policy"]
    data, name, declared = cases[3]
    sent = await upload(alice, data, name=name, content_type=declared)
    _, _, headers = await fetch(alice, sent["url"])
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_an_upload_cut_off_halfway_leaves_nothing(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server()
    admin = await admin_of(srv)
    try:
        cookie = next(c for c in admin.http.cookie_jar if c.key == "pychat_session")
        boundary = "b0undary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file";'
            ' filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        total = 4 << 20
        host, port = srv.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            (
                f"POST /api/uploads HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Cookie: pychat_session={cookie.value}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(head) + total + len(boundary) + 8}\r\n\r\n"
            ).encode()
            + head
        )
        sent = 0
        while sent < total // 2:
            writer.write(os.urandom(1 << 16))
            sent += 1 << 16
            await writer.drain()
        # The server is receiving it into a temp file now...
        await wait_until(
            lambda: asyncio.to_thread(temp_files, srv), what="the upload is being received"
        )
        writer.close()  # ...and the browser tab is closed
        await wait_until(
            lambda: asyncio.to_thread(lambda: not temp_files(srv)), what="the half file is gone"
        )
        assert stored_blobs(srv) == []
        db = sqlite3.connect(srv.data / "pychat.db")
        try:
            assert db.execute("SELECT count(*) FROM uploads").fetchone()[0] == 0
        finally:
            db.close()
        # And the server is fine, and did not take the hang-up for a bug.
        assert (await upload(admin, b"after"))["size"] == 5
        assert "Traceback" not in srv.log(), srv.log()
        del reader
    finally:
        await admin.close()


async def test_bad_multipart_requests_are_refused(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status, body = await alice.call("POST", "/api/uploads", {"file": "x"})
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body = await send_upload(alice, b"x", duration_ms=-5)
    assert status == 400
    # A field other than duration_ms before the file.
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("something", "else")
    form.add_field("file", b"x", filename="a.bin")
    async with alice.http.post(alice.base_url + "/api/uploads", data=form) as resp:
        assert resp.status == 400
    # Another site's form cannot upload.
    form = aiohttp.FormData()
    form.add_field("file", b"x", filename="a.bin")
    async with alice.http.post(
        alice.base_url + "/api/uploads", data=form, headers={"Origin": "http://evil.example"}
    ) as resp:
        assert resp.status == 403


async def test_stray_files_from_a_power_cut_are_removed_at_start(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server()
    admin = await admin_of(srv)
    try:
        kept = await upload(admin, os.urandom(2000), name="kept.bin")
    finally:
        await admin.close()
    srv.stop()
    # A file moved into place whose commit never happened, an hour and more ago.
    stray = srv.data / "files" / "ab" / ("c" * 62)
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"orphan")
    two_hours_ago = time.time() - 7200
    for path in [stray, *stored_blobs(srv)]:
        os.utime(path, (two_hours_ago, two_hours_ago))
    srv.start()
    admin = await admin_of(srv)
    try:
        await wait_until(
            lambda: asyncio.to_thread(lambda: not stray.exists()), what="the stray file is removed"
        )
        assert (await fetch(admin, kept["url"]))[0] == 200
        assert len(stored_blobs(srv)) == 1
    finally:
        await admin.close()
