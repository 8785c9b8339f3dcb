"""Image decoding inside the shipped sandbox: pychat.service's settings (seccomp filter,
private /tmp, no new privileges, AF_UNIX and IP only) still let the server start its
decode processes and cap their memory. Runs where a systemd manager can be had (see
test_systemd_unit.py, whose transient copy of the unit this reuses)."""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.client import Client
from tests.integration.image_corpus import jpeg_photo, png_bomb
from tests.integration.systemd_manager import Manager, open_manager
from tests.integration.test_systemd_unit import VENV_BIN, _read, free_port, live, transient_copy
from tests.integration.uploading import fetch, send_upload, upload
from tests.server import ADMIN_PASSWORD, init_data


@pytest.fixture(scope="module")
def systemd() -> Iterator[Manager]:
    try:
        m = open_manager()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"cannot start a systemd manager here: {e}")
    yield m
    m.close()


@live
async def test_the_sandboxed_service_decodes_images_within_their_memory(
    systemd: Manager, tmp_path: Path
) -> None:
    manager = systemd
    name = f"pychat-test-{time.time_ns()}"
    unit = f"{name}.service"
    log = tmp_path / "service.log"
    state = manager.state_root / name
    state.mkdir(parents=True)
    init_data(state)
    port = free_port(range(0))
    props = transient_copy(manager, name, log, TimeoutStartSec="60")
    props.append(f"Environment=PYCHAT_UPLOADS_IMAGE_DECODE_BYTES={160 << 20}")
    argv = [str(VENV_BIN / "pychat"), "serve", "--listen", f"127.0.0.1:{port}"]
    client = Client(f"http://127.0.0.1:{port}")
    try:
        done = manager.run(name, props, argv)
        assert done.returncode == 0, done.stderr + _read(log)
        await client.login("admin", ADMIN_PASSWORD)
        # An ordinary photo: decoded in a child of the sandboxed server, turned upright.
        sent = await upload(client, jpeg_photo((300, 200)), name="IMG_1.jpg")
        assert (sent["width"], sent["height"]) == (200, 300), _read(log)
        status, thumb, _ = await fetch(client, sent["thumb_url"])
        assert status == 200 and Image.open(io.BytesIO(thumb)).size == (200, 300)
        # The address-space cap holds there too: 49 megapixels need more than 160 MiB.
        status, body = await send_upload(client, png_bomb("RGBA", 7000), name="bomb.png")
        assert status == 413 and "memory" in body["error"]["message"], (body, _read(log))
        status, _, _ = await fetch(client, "/api/health")
        assert status == 200
    finally:
        await client.close()
        manager.cleanup_unit(unit)
        shutil.rmtree(state, ignore_errors=True)
