"""A restore archive is bounded by its manifest before it is unpacked (issue 13, item 10):
a tar.gz bomb (a few MB that expand to gigabytes), more files than the manifest lists, or an
extension header that tarfile would read whole into memory is refused before the bytes are
written, so a hostile upload never fills the device's disk or memory."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import tarfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.backup.archive import make_archive
from appliance.backup.restore_check import RestoreRefused, check_archive
from appliance.chat import setup
from appliance.config import load_settings
from appliance.db import SqliteDatabase
from appliance.hub import Hub
from appliance.state.services import Services

BOMB_BYTES = 96 << 20  # what a bomb member expands to (the test streams it, never holds it)
PLENTY = 1 << 40  # a device with a large disk: free space alone does not stop a bomb


class Zeros(io.RawIOBase):
    """`size` zero bytes, read in chunks: a member body that compresses ~1000:1."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


Member = tuple[tarfile.TarInfo, Any]  # (header, a file object for its body)


def member(name: str, body: bytes | None = None, *, size: int | None = None) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(body) if body is not None else (size or 0)
    return info, io.BytesIO(body) if body is not None else Zeros(info.size)


def write_archive(path: Path, members: list[Member]) -> Path:
    with gzip.open(path, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        for info, body in members:
            tar.addfile(info, body)
    return path


@pytest.fixture(scope="module")
def backup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The members of a real backup of a set-up device."""
    data = tmp_path_factory.mktemp("device")
    settings = load_settings(data, environ={"PYCHAT_AUTH_SCRYPT_N": "1024"})

    async def init() -> None:
        db = SqliteDatabase(settings.db_path)
        await db.open()
        try:
            svc = Services(settings=settings, db=db, hub=Hub())
            await setup.initialize(svc, "Acme", "admin", "a" * 8)
        finally:
            await db.close()

    asyncio.run(init())
    archive = make_archive(data, settings.db_path, tmp_path_factory.mktemp("out"))
    # The genuine archive passes: the refusals below are the bombs' doing.
    assert check_archive(archive, tmp_path_factory.mktemp("check"), max_bytes=PLENTY)
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def with_manifest(backup: dict[str, bytes], **changes: Any) -> bytes:
    manifest = json.loads(backup["manifest.json"])
    manifest.update(changes)
    return json.dumps(manifest).encode()


def staged_bytes(staging: Path) -> int:
    return sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())


def staged_files(staging: Path) -> int:
    return sum(1 for p in staging.rglob("*") if p.is_file())


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "staging"
    folder.mkdir()
    yield folder


def test_a_member_larger_than_its_manifest_entry_is_refused_before_it_is_written(
    backup: dict[str, bytes], tmp_path: Path, staging: Path
) -> None:
    archive = write_archive(
        tmp_path / "bomb.tar.gz",
        [member("manifest.json", backup["manifest.json"]), member("pychat.db", size=BOMB_BYTES)],
    )
    assert archive.stat().st_size < BOMB_BYTES // 100  # a bomb: tiny, expanding a lot

    with pytest.raises(RestoreRefused, match="manifest"):
        check_archive(archive, staging, max_bytes=PLENTY)

    assert staged_bytes(staging) < 1 << 20


def test_a_manifest_declaring_more_than_the_free_space_is_refused_before_unpacking(
    backup: dict[str, bytes], tmp_path: Path, staging: Path
) -> None:
    each = 24 << 20
    names = [f"files/{i:02x}/{hashlib.sha256(bytes([i])).hexdigest()[2:]}" for i in range(4)]
    manifest = with_manifest(backup, uploads={"count": len(names), "bytes": each * len(names)})
    archive = write_archive(
        tmp_path / "big.tar.gz",
        [member("manifest.json", manifest), *(member(n, size=each) for n in names)],
    )

    with pytest.raises(RestoreRefused, match="free space"):
        check_archive(archive, staging, max_bytes=2 * each)

    assert staged_bytes(staging) < 1 << 20


def test_more_files_than_the_manifest_counts_are_refused_at_the_first_extra_one(
    backup: dict[str, bytes], tmp_path: Path, staging: Path
) -> None:
    flood = [
        member(f"files/ab/{hashlib.sha256(str(i).encode()).hexdigest()[2:]}", b"x")
        for i in range(2000)
    ]
    archive = write_archive(
        tmp_path / "flood.tar.gz",
        [member(name, body) for name, body in backup.items()] + flood,
    )

    with pytest.raises(RestoreRefused, match="manifest"):
        check_archive(archive, staging, max_bytes=PLENTY)

    assert staged_files(staging) <= len(backup)


def test_an_oversized_extension_header_is_refused_without_reading_it(
    tmp_path: Path, staging: Path
) -> None:
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = BOMB_BYTES
    path = tmp_path / "pax.tar.gz"
    with gzip.open(path, "wb", compresslevel=1) as gz:
        gz.write(pax.tobuf(tarfile.USTAR_FORMAT))
        body = Zeros(BOMB_BYTES)
        while chunk := body.read(1 << 20):
            gz.write(chunk)
        gz.write(bytes(2 * tarfile.BLOCKSIZE))

    tracemalloc.start()
    try:
        with pytest.raises(RestoreRefused) as refused:
            check_archive(path, staging, max_bytes=PLENTY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < BOMB_BYTES // 4  # the header was never read into memory
    assert "oversized tar header" in refused.value.message


def test_an_archive_that_does_not_begin_with_its_manifest_is_refused(
    backup: dict[str, bytes], tmp_path: Path, staging: Path
) -> None:
    # Without the manifest first nothing bounds what follows it.
    order = ["pychat.db", *(n for n in backup if n != "pychat.db")]
    archive = write_archive(tmp_path / "late.tar.gz", [member(n, backup[n]) for n in order])

    with pytest.raises(RestoreRefused, match="begin with its manifest"):
        check_archive(archive, staging, max_bytes=PLENTY)

    assert staged_files(staging) == 0
