"""The card as a power cut left it, read with QEMU off and before the device boots again.

The root partition is copied out of the qcow2 overlay, repaired with `e2fsck -fy` as the
initramfs does at the next boot, and the data folder taken out with `debugfs`: then the
database must pass `PRAGMA integrity_check` and hold every acknowledged message and board op
exactly once, and every stored file must be whole (its content is its name).
"""

# ruff: noqa: S603, S607  (qemu-img, e2fsck and debugfs from the host, fixed arguments)
from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import struct
import subprocess
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from .disk import _partition_opts
from .load import Ledger

DATA_DIR = "/var/lib/pychat"
BLOB_DIR = re.compile(r"[0-9a-f]{2}")
MBR_ENTRIES = 446
LINUX_PARTITION = 0x83
E2FSCK_FIXED = 3  # exit status bits 1 and 2: errors corrected; 4 and up: left uncorrected


@dataclass
class CardReport:
    fsck_status: int
    messages: int
    ops: int
    blobs: int
    temp_files: int


def root_partition(overlay: Path, scratch: Path) -> tuple[int, int]:
    """(offset, size) of partition 2 as the card's MBR now says (first boot grew it)."""
    mbr = scratch / "mbr.bin"
    subprocess.check_call(
        ["qemu-img", "dd", "-f", "qcow2", "-O", "raw", "bs=512", "count=1",
         f"if={overlay}", f"of={mbr}"]
    )  # fmt: skip
    sector = mbr.read_bytes()
    mbr.unlink()
    entry = sector[MBR_ENTRIES + 16 : MBR_ENTRIES + 32]
    if sector[510:512] != b"\x55\xaa" or entry[4] != LINUX_PARTITION:
        raise SystemExit("the card's partition table is gone after the cut")
    start, sectors = struct.unpack("<II", entry[8:16])
    return start * 512, sectors * 512


def take_out_data(overlay: Path, scratch: Path) -> tuple[Path, int]:
    """The data folder as the card holds it, after the repair the next boot would make."""
    offset, size = root_partition(overlay, scratch)
    root, out = scratch / "root.ext4", scratch / "data"
    try:
        subprocess.check_call(
            ["qemu-img", "convert", "--image-opts", _partition_opts(overlay, offset, size),
             "-O", "raw", str(root)]
        )  # fmt: skip
        fsck = subprocess.run(["e2fsck", "-fy", str(root)], capture_output=True, text=True)
        if fsck.returncode & ~E2FSCK_FIXED:
            raise SystemExit(f"e2fsck could not repair the card ({fsck.returncode}):\n"
                             f"{fsck.stdout[-3000:]}")  # fmt: skip
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        # debugfs exits 0 whatever rdump found: the database's presence is the check.
        dump = subprocess.run(["debugfs", "-R", f"rdump {DATA_DIR} {out}", str(root)],
                              capture_output=True, text=True)  # fmt: skip
    finally:
        root.unlink(missing_ok=True)
    data = out / Path(DATA_DIR).name
    if not (data / "pychat.db").is_file():
        shutil.rmtree(out, ignore_errors=True)
        raise SystemExit(f"no database on the card after the cut: {dump.stderr[-2000:]}")
    return data, fsck.returncode


def check_database(db: Path, ledger: Ledger) -> tuple[int, int]:
    """Integrity, and every acknowledged message and op once (those in flight at most once)."""
    with sqlite3.connect(db) as conn:  # replays the WAL the cut left, as the server would
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as e:
            raise SystemExit(f"the database is damaged after the cut: {e}") from e
        if problems != ["ok"]:
            raise SystemExit(f"integrity_check after the cut: {problems[:10]}")
        messages = dict(conn.execute(
            "SELECT client_id, count(*) FROM messages WHERE client_id IS NOT NULL "
            "GROUP BY client_id"
        ).fetchall())  # fmt: skip
        ops = dict(conn.execute("SELECT op_id, count(*) FROM board_ops GROUP BY op_id").fetchall())
        uploads = dict(conn.execute("SELECT id, hash FROM uploads").fetchall())
    conn.close()
    _once(messages, ledger.messages, ledger.messages_pending, "message")
    _once(ops, ledger.ops, ledger.ops_pending, "board op")
    for upload_id, digest in ledger.uploads.items():
        if uploads.get(upload_id) != digest:
            raise SystemExit(f"acknowledged upload {upload_id} is not on the card as sent")
    return len(messages), len(ops)


def _once(stored: dict[str, int], acked: Collection[str], pending: Collection[str],
          what: str) -> None:  # fmt: skip
    lost = [key for key in acked if stored.get(key) != 1]
    # Unique indexes keep an id from being stored twice; integrity_check vouches for them.
    doubled = [key for key in pending if stored.get(key, 0) > 1]
    if lost or doubled:
        raise SystemExit(f"after the cut: acknowledged {what}s lost or doubled {lost[:5]}, "
                         f"{what}s in flight doubled {doubled[:5]}")  # fmt: skip


def check_files(files: Path, acknowledged: set[str]) -> tuple[int, int]:
    """Every stored file whole: content-addressed, so its SHA-256 is its path. Half-received
    files may sit in tmp/ (the next start drops them), never under a hash."""
    missing = [d for d in acknowledged if not (files / d[:2] / d[2:]).is_file()]
    if missing:
        raise SystemExit(f"acknowledged uploads' files missing after the cut: {missing[:3]}")
    blobs = 0
    for head in files.iterdir() if files.exists() else []:
        if not (head.is_dir() and BLOB_DIR.fullmatch(head.name)):
            continue
        for path in head.iterdir():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != head.name + path.name:
                raise SystemExit(f"a stored file is not whole after the cut: {path}")
            blobs += 1
    temp = files / "tmp"
    return blobs, len(list(temp.iterdir())) if temp.exists() else 0


def check_card(overlay: Path, scratch: Path, ledger: Ledger) -> CardReport:
    data, fsck_status = take_out_data(overlay, scratch)
    try:
        messages, ops = check_database(data / "pychat.db", ledger)
        blobs, temp_files = check_files(data / "files", set(ledger.uploads.values()))
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)
    return CardReport(fsck_status, messages, ops, blobs, temp_files)
