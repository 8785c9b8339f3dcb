"""PostgreSQL and Redis for the cluster tests: one server each per session, a fresh
database per test (tests/engines.py)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from appliance.cluster.postgres import connect_pool
from tests.engines import PostgresServer, RedisServer

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
