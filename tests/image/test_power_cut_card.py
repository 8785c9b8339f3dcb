"""The power-cut test's check of the card (image/boot_test/card.py) catches what a power cut
could do wrong: an acknowledged message missing, one in flight stored twice, a stored file
cut short. The card is made the way the image is (stage 3's disk, a qcow2 over it) from the
data folder of a real server the test used."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from image.boot_test.card import CardReport, check_card
from image.boot_test.load import Ledger
from tests.client import Client
from tests.server import ADMIN_PASSWORD, Server

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("mkfs.vfat", "mcopy", "mkfs.ext4", "debugfs", "e2fsck", "sfdisk", "qemu-img")
pytestmark = [
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in TOOLS),
        reason=f"needs {', '.join(TOOLS)} (apt-get install dosfstools mtools e2fsprogs fdisk "
        "qemu-utils)",
    ),
    pytest.mark.skipif(
        os.environ.get("PYCHAT_TEST_ENGINE") == "postgresql",
        reason="the appliance's card holds SQLite",
    ),
]


async def used_data_folder(make_server: Any, *, kill: bool = False) -> tuple[Path, Ledger]:
    """A real server's data folder after messages, a board op and an upload, stopped (or
    killed, leaving its last commits in the WAL only)."""
    server: Server = make_server()
    ledger = Ledger()
    admin = Client(server.url)
    try:
        await admin.login("admin", ADMIN_PASSWORD)
        room = int((await admin.get("/api/rooms"))["rooms"][0]["id"])
        sock = await admin.connect()
        for _ in range(3):
            client_id = uuid.uuid4().hex
            await sock.send_message(room, "kept", client_id=client_id)
            ledger.messages[client_id] = "kept"
        await sock.ok({"type": "paint.open", "room": room})
        op = {"id": uuid.uuid4().hex, "kind": "stroke", "color": "#205080", "size": 3,
              "points": [1, 2, 3, 4]}  # fmt: skip
        await sock.ok({"type": "paint.op", "room": room, "op": op})
        ledger.ops[op["id"]] = op
        data = os.urandom(200_000)
        form = aiohttp.FormData()
        form.add_field("file", data, filename="photo.bin", content_type="application/octet-stream")
        async with admin.http.post(f"{server.url}/api/uploads", data=form) as resp:
            reply = await resp.json()
            assert resp.status == 201, reply
        ledger.uploads[int(reply["upload"]["id"])] = hashlib.sha256(data).hexdigest()
    finally:
        await admin.close()
    if kill:
        server.kill()
    else:
        server.stop()
    return server.data, ledger


def card_with(data: Path, tmp: Path) -> Path:
    """An image card (stage 3's MBR disk) whose root holds this data folder, as qcow2."""
    root = tmp / "rootfs"
    (root / "boot/firmware").mkdir(parents=True)
    (root / "boot/firmware/cmdline.txt").write_text("root=LABEL=RASPIROOT rw rootwait\n")
    shutil.copytree(data, root / "var/lib/pychat")
    image = tmp / "card.img"
    env = {**os.environ, "PYCHAT_IMAGE_BOOT_MB": "64", "PYCHAT_IMAGE_ROOT_FREE_MB": "16"}
    subprocess.run([str(REPO / "image/stages/3-disk"), str(root), str(image)], env=env,
                   check=True, capture_output=True)  # fmt: skip
    overlay = tmp / "card.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(image), str(overlay)],
                   check=True)  # fmt: skip
    return overlay


def check(data: Path, tmp: Path, ledger: Ledger) -> CardReport:
    scratch = tmp / "scratch"
    scratch.mkdir(parents=True)
    return check_card(card_with(data, tmp), scratch, ledger)


async def test_a_card_with_everything_acknowledged_passes(make_server: Any, tmp_path: Path) -> None:
    data, ledger = await used_data_folder(make_server, kill=True)
    assert (data / "pychat.db-wal").stat().st_size > 0, "the commits are in the WAL only"
    report = check(data, tmp_path / "card", ledger)
    assert (report.messages, report.ops, report.blobs) == (3, 1, 1)
    assert report.fsck_status == 0


async def test_a_lost_or_doubled_message_fails_the_check(make_server: Any, tmp_path: Path) -> None:
    data, ledger = await used_data_folder(make_server)
    lost = Ledger(messages={**ledger.messages, "never-stored": "lost"}, ops=ledger.ops)
    with pytest.raises(SystemExit, match="acknowledged messages lost"):
        check(data, tmp_path / "lost", lost)
    # A re-send after the cut may store a message in flight once, never twice.
    stored = next(iter(ledger.messages))
    in_flight = Ledger(messages_pending={stored: "kept"}, ops=ledger.ops)
    assert check(data, tmp_path / "once", in_flight).messages == 3


async def test_a_file_cut_short_fails_the_check(make_server: Any, tmp_path: Path) -> None:
    data, ledger = await used_data_folder(make_server)
    digest = next(iter(ledger.uploads.values()))
    blob = data / "files" / digest[:2] / digest[2:]
    blob.write_bytes(blob.read_bytes()[:4096])
    with pytest.raises(SystemExit, match="not whole"):
        check(data, tmp_path / "card", ledger)
