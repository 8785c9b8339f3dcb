"""A file system of the test's own (tmpfs, 24 MB) that a test can fill, and a server on it:
what a full SD card does to writes, shown for real rather than faked."""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_ENV
from tests.server import Server, init_data

SIZE_MB = 24  # the database, the upload store and some room to fill


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m,mode=0700", "tmpfs", str(mount)],
        check=True,
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def full_disk_server(small_disk: Path) -> Iterator[Server]:
    """The real server with its data folder on the small disk, and no upload reserve: the
    tests are about what happens when the disk really is full."""
    data = small_disk / "data"
    data.mkdir()
    init_data(data)
    server = Server(data, env={**TEST_ENV, "PYCHAT_UPLOADS_DISK_RESERVE_BYTES": "0"}).start()
    try:
        yield server
    finally:
        server.stop()


def fill(folder: Path) -> Path:
    """Write a file until the file system has not one block left; returns it (delete it to
    free the space)."""
    filler = folder / f"filler-{uuid.uuid4().hex}"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    finally:
        os.close(fd)
    return filler
