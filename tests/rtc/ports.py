"""Free loopback ports below the kernel's ephemeral range (32768-60999)."""

from __future__ import annotations

import random
import socket


def free_port(span: int = 1, low: int = 23000, high: int = 23999) -> int:
    """A port (and the ``span - 1`` after it) free for UDP and TCP on 127.0.0.1."""
    for _ in range(200):
        first = random.randrange(low, high - span)
        opened: list[socket.socket] = []
        try:
            for port in range(first, first + span):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    sock = socket.socket(socket.AF_INET, kind)
                    opened.append(sock)
                    sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in opened:
                sock.close()
    raise RuntimeError(f"no free port in {low}-{high}")
