"""Shared fixtures: a real server (one per session, set up once) and logged-in users."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.client import Client
from tests.server import ADMIN_PASSWORD, TEST_CLUSTER_NODES, TEST_POSTGRES, Server, init_data

USER_PASSWORD = "user-password-1"
# Relaxed enough that a fast test never trips a limit by accident; tests of limits start
# a server of their own with tighter settings.
TEST_ENV = {
    "PYCHAT_AUTH_SCRYPT_N": "1024",
    "PYCHAT_LIMITS_SEND_PER_SECOND": "1000",
    "PYCHAT_LIMITS_SEND_BURST": "1000",
    "PYCHAT_AUTH_LOGIN_FAILURES_PER_IP": "100000",
    "PYCHAT_LIMITS_FRAMES_PER_SECOND": "100000",
    "PYCHAT_LIMITS_FRAMES_BURST": "100000",
}


# The contract: modules that reach the server only through HTTP and WebSockets, about what
# every engine must do alike. `make test` runs them twice: on SQLite (with everything) and
# with every server on PostgreSQL (`pytest -m contract`, PYCHAT_TEST_ENGINE=postgresql).
# Modules that read or damage SQLite's file, or time its writer, are SQLite's own.
CLUSTER_NODES = 2  # PYCHAT_TEST_ENGINE=cluster: every test server is two nodes behind HAProxy
CONTRACT = frozenset(
    f"tests/integration/test_{name}.py"
    for name in (
        "messages", "rooms", "unread", "replay", "chat_live", "realtime", "visibility",
        "idempotency", "event_consistency", "joining_unread", "notify_settings", "room_caps",
        "uploads_messages", "message_actions_http", "p2p_rooms", "registration_policy",
        "system_account", "signalling", "painter", "calls",
    )
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("::")[0] in CONTRACT:
            item.add_marker(pytest.mark.contract)


@pytest.fixture(scope="session", autouse=True)
def engine() -> Iterator[str]:
    """The database engine the servers run on: SQLite in their data folders, or with
    PYCHAT_TEST_ENGINE=postgresql one PostgreSQL for the run (a database per data folder;
    `make pytest-postgresql` runs the contract tests so), or with PYCHAT_TEST_ENGINE=cluster
    the same and every test server a cluster of nodes (`make pytest-cluster`)."""
    chosen = os.environ.get("PYCHAT_TEST_ENGINE", "sqlite")
    if chosen not in ("postgresql", "cluster"):
        yield chosen
        return
    from tests.engines import PostgresServer

    with PostgresServer() as pg:
        os.environ[TEST_POSTGRES] = pg.url
        if chosen == "cluster":
            os.environ[TEST_CLUSTER_NODES] = str(CLUSTER_NODES)
        try:
            yield chosen
        finally:
            del os.environ[TEST_POSTGRES]
            os.environ.pop(TEST_CLUSTER_NODES, None)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("data")
    init_data(data)
    srv = Server(data, env=TEST_ENV).start()
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """A server of the test's own (own data dir, own settings)."""
    started: list[Server] = []
    counter = itertools.count()

    def make(env: dict[str, str] | None = None, *, setup: bool = True) -> Server:
        data = tmp_path / f"data{next(counter)}"
        data.mkdir()
        if setup:
            init_data(data)
        srv = Server(data, env={**TEST_ENV, **(env or {})}).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[Client]:
    client = Client(server.url)
    await client.login("admin", ADMIN_PASSWORD)
    yield client
    await client.close()


UserFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_user(server: Server, admin: Client) -> AsyncIterator[UserFactory]:
    """Create a fresh account through the admin API and return it logged in."""
    clients: list[Client] = []

    async def make(
        prefix: str = "u", *, base_url: str | None = None, via: Client | None = None
    ) -> Client:
        username = f"{prefix}{uuid.uuid4().hex[:8]}"
        creator = via or admin
        await creator.post(
            "/api/admin/users", {"username": username, "password": USER_PASSWORD}, expect=201
        )
        client = Client(base_url or server.url)
        clients.append(client)
        return await client.login(username, USER_PASSWORD)

    yield make
    for client in clients:
        await client.close()


async def new_room(
    owner: Client, *members: Client, kind: str = "private", name: str | None = None
) -> dict:
    body = {"kind": kind, "members": [m.id for m in members]}
    if kind != "direct":
        body["name"] = name or f"room-{uuid.uuid4().hex[:6]}"
    status, payload = await owner.call("POST", "/api/rooms", body)
    assert status in (200, 201), payload
    return payload["room"]


People = Callable[[str], Awaitable[Client]]


async def people_on(url: str) -> AsyncIterator[People]:
    """Accounts on a server of the test's own, made through its admin API; closed after."""
    admin = await Client(url).login("admin", ADMIN_PASSWORD)
    clients = [admin]

    async def make(prefix: str) -> Client:
        username = f"{prefix}{uuid.uuid4().hex[:8]}"
        await admin.post(
            "/api/admin/users", {"username": username, "password": USER_PASSWORD}, expect=201
        )
        client = Client(url)
        clients.append(client)
        return await client.login(username, USER_PASSWORD)

    try:
        yield make
    finally:
        for client in clients:
            await client.close()
