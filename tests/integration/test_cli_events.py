"""Changes made with the `pychat` commands on the device reach connected people live."""

from __future__ import annotations

import uuid

from tests.conftest import USER_PASSWORD, UserFactory
from tests.server import Server, pychat


async def test_an_account_added_from_the_command_line_appears_live(
    server: Server, make_user: UserFactory
) -> None:
    watcher = await make_user("watch")
    sock = await watcher.connect()
    name = f"cli{uuid.uuid4().hex[:8]}"

    done = pychat(
        "user", "add", name, "--password-stdin", data=server.data, stdin=USER_PASSWORD + "\n"
    )
    assert done.returncode == 0, done.stderr

    event = await sock.event("user.new")
    assert event["data"]["user"]["username"] == name
    # And the stream stays gap-free: the next event follows it in seq order.
    room = (await watcher.get("/api/rooms"))["rooms"][0]["id"]
    await sock.send_message(room, "after the new account")
    later = await sock.event("message.new", room=room)
    assert later["seq"] > event["seq"]
