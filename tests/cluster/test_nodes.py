"""Several nodes writing one PostgreSQL event log at once, woken through Redis: every node
delivers every event once, in order; a node killed mid-traffic loses nothing it
acknowledged; a bus restart costs delay, never an event (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from appliance.cluster import event_log
from tests.cluster.node import digest
from tests.engines import RedisServer

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0


class Node:
    """One `tests.cluster.node` process and what it has said so far."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name
        self.said: list[dict[str, Any]] = []
        self._news = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, name: str, database: str, bus: str, **options: object) -> Node:
        argv = [sys.executable, "-m", "tests.cluster.node", "--database", database]
        argv += ["--bus", bus, "--name", name]
        for key, value in options.items():
            argv += [f"--{key}", str(value)] if value != "" else [f"--{key}"]
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process, name)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            async with self._news:
                self.said.append(json.loads(line))
                self._news.notify_all()
        async with self._news:
            self._news.notify_all()

    async def until(self, check: Callable[[list[dict[str, Any]]], bool], what: str) -> None:
        async def wait() -> None:
            async with self._news:
                await self._news.wait_for(
                    lambda: check(self.said) or self.process.returncode is not None
                    or self._reader.done()
                )  # fmt: skip

        try:
            await asyncio.wait_for(wait(), WAIT_S)
        except TimeoutError:
            self.kill()
            await self.process.wait()
            raise AssertionError(
                f"node {self.name}: timed out waiting until {what}:\n{await self.stderr()}"
            ) from None
        if not check(self.said):
            await asyncio.wait_for(self.process.wait(), WAIT_S)  # its stdout closed: exiting
            raise AssertionError(f"node {self.name} ended before {what}:\n{await self.stderr()}")

    async def said_key(self, key: str) -> None:
        await self.until(lambda said: any(key in m for m in said), f"it says {key!r}")

    def tell(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")

    def acked(self) -> list[int]:
        return [seq for m in self.said if "acked" in m for seq in m["acked"]]

    def followers(self) -> list[dict[str, Any]]:
        return [m for m in self.said if "follower" in m]

    async def stderr(self) -> str:
        if self.process.returncode is None:
            return "(still running)"
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode(errors="replace")

    async def finish(self, followers: int) -> list[dict[str, Any]]:
        await self.until(lambda said: sum("follower" in m for m in said) == followers,
                         "every follower has reported")  # fmt: skip
        assert await asyncio.wait_for(self.process.wait(), WAIT_S) == 0, await self.stderr()
        return self.followers()

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)


@pytest.fixture
async def nodes() -> AsyncIterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        node.kill()
        await node.process.wait()


async def the_log(database_url: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        return [(e.seq, e.data_json) for e in await event_log.after(conn, 0, 1_000_000)]
    finally:
        await conn.close()


async def run_to_the_end(
    running: list[Node], database_url: str, followers: int
) -> list[tuple[int, str]]:
    """Tell the nodes the head once they have written, and check what each follower got."""
    for node in running:
        await node.said_key("written")
    log = await the_log(database_url)
    head = len(log)
    assert [seq for seq, _ in log] == list(range(1, head + 1))
    for node in running:
        node.tell(f"head {head}")
    for node in running:
        for report in await node.finish(followers):
            assert report["seqs"] == list(range(1, head + 1)), (node.name, report["follower"])
            assert report["digest"] == digest(log)
    return log


async def start_nodes(
    nodes: list[Node], names: str, database_url: str, bus: str, **options: object
) -> list[Node]:
    started = [await Node.start(name, database_url, bus, **options) for name in names]
    nodes.extend(started)
    for node in started:
        await node.said_key("ready")
    for node in started:
        node.tell("go")
    return started


@pytest.mark.parametrize("through", ["transactions", "writer"])
async def test_three_nodes_writing_at_once_deliver_every_event_everywhere_once_in_order(
    database_url: str, redis_server: RedisServer, nodes: list[Node], through: str
) -> None:
    flags = {"writer": ""} if through == "writer" else {}
    running = await start_nodes(
        nodes, "ABC", database_url, redis_server.url, writers=4, transactions=40, seed=1, **flags
    )
    log = await run_to_the_end(running, database_url, followers=2)
    acked = sorted(seq for node in running for seq in node.acked())
    assert acked == [seq for seq, _ in log]  # each event acknowledged once, none lost
    assert len(log) >= 3 * 4 * 40


async def test_a_node_killed_mid_traffic_loses_nothing_it_acknowledged_and_holds_no_one_up(
    database_url: str, redis_server: RedisServer, nodes: list[Node]
) -> None:
    running = await start_nodes(
        nodes, "ABC", database_url, redis_server.url, writers=4, transactions=60, seed=2
    )
    victim = running[2]
    await victim.until(lambda said: sum("acked" in m for m in said) >= 30, "30 commits")
    victim.kill()
    await victim.process.wait()
    log = await run_to_the_end(running[:2], database_url, followers=2)
    by_seq = {seq: json.loads(data) for seq, data in log}
    for seq in victim.acked():
        assert by_seq[seq]["node"] == "C"
    # Another node coming up later reads the whole log from the start, in order.
    late = await start_nodes(nodes, "D", database_url, redis_server.url, writers=0, followers=1)
    await run_to_the_end(late, database_url, followers=1)


async def test_a_bus_down_mid_traffic_costs_a_delay_never_an_event(
    database_url: str, redis_server: RedisServer, nodes: list[Node]
) -> None:
    # The followers' timer is 10 minutes: only the bus and the node's own commits wake them,
    # and each writer wakes one follower of its node. Redis is away for the rest of the
    # writing: the notices of those commits are lost, and what the other followers have
    # not read yet they can only learn by reading the log once they subscribe again.
    running = await start_nodes(
        nodes, "AB", database_url, redis_server.url, writers=3, transactions=80, seed=3, poll=600
    )
    await running[0].until(lambda said: sum("acked" in m for m in said) >= 20, "20 commits")
    redis_server.kill()
    for node in running:
        await node.said_key("written")
    redis_server.start()
    await run_to_the_end(running, database_url, followers=2)
