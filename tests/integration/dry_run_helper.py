"""A dry-run privileged helper on a unix socket, shared by the helper's and the admin's tests."""

from __future__ import annotations

import os
import queue
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.privileged.connection import handle_connection
from appliance.privileged.executor import DryRun
from appliance.privileged.protocol import Reply

ME = frozenset({os.getuid()})


@pytest.fixture
def helper(tmp_path: Path) -> Iterator[tuple[Path, queue.Queue[Reply]]]:
    """A dry-run helper on a unix socket in tmp_path; yields its path and its replies."""
    path = tmp_path / "helper.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()
    replies: queue.Queue[Reply] = queue.Queue()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                replies.put(handle_connection(conn, executor=DryRun(), allowed=ME))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, replies
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(5)
