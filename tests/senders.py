"""A steady sender for tests that act while messages keep arriving (backups, restores)."""

from __future__ import annotations

import asyncio

from tests.client import Client


class Sender:
    """Sends messages one after another into its own room, recording what was acknowledged."""

    def __init__(self, client: Client, room: int) -> None:
        self.client = client
        self.room = room
        self.acked: list[tuple[int, str]] = []
        self.target = 20
        self.reached = asyncio.Event()
        self.stop = asyncio.Event()

    async def keep_going(self, more: int) -> None:
        """Wait until `more` further messages have been acknowledged."""
        self.target = len(self.acked) + more
        self.reached.clear()
        await self.reached.wait()

    async def run(self) -> None:
        sock = await self.client.connect()
        n = 0
        while not self.stop.is_set():
            body = f"{self.client.user['username']} #{n}"
            message = await sock.send_message(self.room, body)
            self.acked.append((message["id"], body))
            n += 1
            if len(self.acked) >= self.target:
                self.reached.set()
