"""A busy server prunes its event log while it runs, not only at start and hourly (issue 19,
item 3: bench/soak.py's million messages an hour kept a million events until the next
hourly prune). Replay inside the window stays exact while it does."""

from __future__ import annotations

from collections.abc import Callable

from appliance.event_retention import slack_of
from tests.client import Client
from tests.conftest import USER_PASSWORD
from tests.integration.test_event_retention import replayed, span, traffic
from tests.server import Server
from tests.waiting import wait_until

WINDOW = 30  # ws.replay_limit
SENT = WINDOW + slack_of(WINDOW) + 40  # past the window by more than its slack


async def test_a_log_past_its_window_by_the_slack_is_pruned_without_a_restart(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({"PYCHAT_WS_REPLAY_LIMIT": str(WINDOW)})
    sent, bob_name = await traffic(srv, SENT)
    # live delivery met no gap while the log was pruned
    assert [seq for seq, _ in sent] == sorted({seq for seq, _ in sent})
    head = sent[-1][0]

    bound = WINDOW + slack_of(WINDOW)  # more than that is never left for the hourly prune

    async def pruned() -> tuple[int, int, int] | None:
        oldest, newest, count = await span(srv)
        return (oldest, newest, count) if count <= bound else None

    # The same server, still running: the housekeeping loop (every 2 s) prunes it. Where
    # the last prune falls among the sends decides how far inside the bound the log ends.
    got = await wait_until(pruned, what="the running server prunes the log to its window")
    assert got is not None
    oldest, newest, count = got
    assert newest == head and count == head - oldest + 1, got  # the newest kept, no hole
    assert head - oldest + 1 >= WINDOW  # the whole window is kept

    bob = await Client(srv.url).login(bob_name, USER_PASSWORD)
    try:
        since = head - 10  # inside the window: exactly what came after, no resync
        inside = await bob.connect(since=since)
        assert not inside.hello_reply["data"].get("resync"), inside.hello_reply
        assert replayed(inside, since, head) == [s for s in sent if s[0] > since]
        outside = await bob.connect(since=oldest - 15)
        assert outside.hello_reply["data"]["resync"] is True
    finally:
        await bob.close()
