"""A backup holds the uploaded files and pictures, and a restore brings them back; an archive
whose file does not match its name is refused."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.backup.restore import RestoreRefused, restore_offline
from tests.client import Client
from tests.conftest import TEST_ENV
from tests.integration.test_admin_backup import download_backup
from tests.integration.test_avatars import put_avatar, square_jpeg
from tests.integration.uploading import admin_of, fetch, png, upload
from tests.server import ADMIN_PASSWORD, Server


async def test_uploaded_files_and_pictures_survive_a_backup_and_restore(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    source = make_server()
    admin = await admin_of(source)
    archive = tmp_path / "backup.tar.gz"
    picture = png((120, 80), "blue")
    try:
        room = await admin.post("/api/rooms", {"name": "design", "kind": "channel"}, expect=201)
        sent = await upload(admin, picture, name="plan.png", content_type="image/png")
        sock = await admin.connect()
        message = await sock.send_message(room["room"]["id"], "", attachments=[sent["id"]])
        status, body = await put_avatar(admin, "/api/me/avatar", square_jpeg())
        assert status == 200, body
        avatar_url = body["user"]["avatar_url"]
        await download_backup(admin, archive)
    finally:
        await admin.close()

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    stored = [n for n in names if n.startswith("files/")]
    assert any(n.startswith("files/avatars/") for n in stored)
    assert any(n.startswith("files/thumbs/") for n in stored)
    assert manifest["uploads"]["count"] == len(stored) >= 3

    offline = tmp_path / "restored"
    said = await asyncio.to_thread(restore_offline, offline, archive)
    assert said.startswith("Restored")
    restored = Server(offline, env=TEST_ENV).start()
    client = await Client(restored.url).login("admin", ADMIN_PASSWORD)
    try:
        attachment = message["attachments"][0]
        status, data, _ = await fetch(client, attachment["url"])
        assert status == 200 and data == picture
        status, thumb, _ = await fetch(client, attachment["thumb_url"])
        assert status == 200 and thumb
        status, avatar, _ = await fetch(client, avatar_url)
        assert status == 200 and avatar
    finally:
        await client.close()
        restored.stop()

    # The same archive with one blob's bytes changed (same size) is refused by the check.
    forged = tmp_path / "forged.tar.gz"
    blob = next(n for n in stored if not n.startswith(("files/thumbs/", "files/avatars/")))
    with tarfile.open(archive) as tar, tarfile.open(forged, "w:gz") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == blob:
                data = bytes([data[0] ^ 1]) + data[1:]
            out.addfile(member, io.BytesIO(data))
    with pytest.raises(RestoreRefused, match="damaged"):
        await asyncio.to_thread(restore_offline, tmp_path / "other", forged, dry_run=True)
