"""Fixtures shared by the integration tests.

Every test here runs under blockbuster: a blocking call (file or socket I/O, sqlite, a lock,
`time.sleep`) made on the test process's event loop by the application or by the shared
async harness (tests/client.py, senders.py, waiting.py) fails the test. Servers started as
subprocesses are out of its sight (other processes); what runs in-process (aiohttp's
TestServer, the app's actions called directly, the clients) is checked. Blocking work in a
test goes through `asyncio.to_thread`; a test that must block says why with
`@pytest.mark.loop_may_block(reason=...)`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from blockbuster import blockbuster_ctx

from tests.integration.dry_run_helper import helper  # noqa: F401 (a fixture)
from tests.integration.small_disk import full_disk_server, small_disk  # noqa: F401

# Whose calls are checked: the application, and the shared async harness every test uses.
# (A test module's own look at the disk or the database afterwards is not checked yet.)
SCANNED = ["appliance", "tests.client", "tests.senders", "tests.waiting"]

# Where blocking is allowed: (filename suffix, functions).
MAY_BLOCK = [
    # Read and built before the loop runs in production (`pychat serve`); in-process tests
    # do it in theirs.
    ("appliance/config.py", {"load_settings"}),
    ("appliance/app.py", {"build_app"}),
    # The app's start, before it serves anyone.
    ("aiohttp/web_app.py", {"startup"}),
    # A test server's start and stop block the test as they would anyway (the one-process
    # server waits for its "listening" line); a cluster's also waits for Redis and HAProxy.
    ("tests/server.py", {"_start_cluster", "_stop_cluster"}),
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "loop_may_block(reason): run without blockbuster; say why the test must block its loop",
    )


@pytest.fixture(autouse=True)
def no_blocking_on_the_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    marker = request.node.get_closest_marker("loop_may_block")
    if marker is not None:
        assert marker.kwargs.get("reason") or marker.args, "loop_may_block needs a reason"
        yield
        return
    with blockbuster_ctx(SCANNED) as busters:
        for function in busters.functions.values():
            for filename, names in MAY_BLOCK:
                function.can_block_in(filename, names)
        yield
