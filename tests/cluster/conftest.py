"""PostgreSQL and Redis for the cluster tests: one server each per session, a fresh
database per test (tests/engines.py); `pychat serve` nodes on them, and people logged in."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis

from appliance.cluster.postgres import connect_pool
from tests.client import Client
from tests.conftest import TEST_ENV, USER_PASSWORD
from tests.engines import PostgresServer, RedisServer
from tests.server import Server, free_port, init_data

NodeFactory = Callable[..., Server]  # (**settings as PYCHAT_* variables) -> a node

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def database_url(postgres: PostgresServer) -> str:
    """A database of the test's own, empty."""
    name = f"test_{next(_databases)}"
    conn = await asyncpg.connect(postgres.url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return postgres.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test's own database, migrated."""
    pool = await connect_pool(database_url)
    yield pool
    await pool.close()


@pytest.fixture
def nodes(tmp_path: Path, database_url: str, redis_server: RedisServer) -> Iterator[NodeFactory]:
    """Start nodes on the test's database (set up by the first), all on one data folder (in
    an office, a mount every node sees: docs/scaling.md). Redis starts empty: ids begin
    again in each test's database, and presence is kept by id."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    env = {**TEST_ENV, "PYCHAT_DATABASE_URL": database_url, "PYCHAT_BUS_URL": redis_server.url}
    started: list[Server] = []

    data = tmp_path / "shared"
    data.mkdir()

    def start(**settings: str) -> Server:
        if not started:
            init_data(data, env={"PYCHAT_DATABASE_URL": database_url})
        node = Server(data, env={**env, **settings}, port=free_port()).start()  # balancer knows
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture
async def people() -> AsyncIterator[Callable[[Server, str], Any]]:
    clients: list[Client] = []

    async def login(node: Server, username: str) -> Client:
        client = Client(node.url)
        clients.append(client)
        return await client.login(username, USER_PASSWORD)

    yield login
    for client in clients:
        await client.close()
