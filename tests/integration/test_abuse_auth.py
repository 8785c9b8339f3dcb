"""Authentication under abuse (issue 13, items 1 and 5): floods of logins, claim codes and
registrations are cut at their limits before any expensive check, per address, and the
people they are aimed at (the owner, a colleague logging in) still get in."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.client import Client
from tests.conftest import USER_PASSWORD
from tests.server import ADMIN_PASSWORD, Server

WAIT = 60.0  # a whole flood, start to finish


@asynccontextmanager
async def from_address(host: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose connections come from `host` (any 127.x.y.z works on loopback),
    with no cap on parallel connections, so a flood really is parallel."""
    connector = aiohttp.TCPConnector(limit=0, local_addr=(host, 0))
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies from an IP-address host
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
        yield http


async def post_json(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(
        url, data=json.dumps(body), headers={"Content-Type": "application/json"}
    ) as r:
        text = await r.text()
        return r.status, json.loads(text) if r.content_type == "application/json" else text


async def flood(n: int, send: Callable[[], Any]) -> list[Any]:
    return list(await asyncio.wait_for(asyncio.gather(*(send() for _ in range(n))), WAIT))


async def make_account(url: str, username: str) -> None:
    admin = await Client(url).login("admin", ADMIN_PASSWORD)
    await admin.post("/api/admin/users", {"username": username, "password": USER_PASSWORD}, 201)
    await admin.close()


# -- login -----------------------------------------------------------------------------------


async def test_parallel_wrong_passwords_are_checked_no_more_than_the_limit(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({"PYCHAT_AUTH_LOGIN_FAILURES_PER_USER": "10"})
    await make_account(srv.url, "victim")
    login = srv.url + "/api/auth/login"
    async with from_address("127.0.0.2") as http:
        wrong = {"username": "victim", "password": "not-the-password"}
        replies = await flood(300, lambda: post_json(http, login, wrong))
        statuses = Counter(status for status, _ in replies)
        assert set(statuses) == {401, 429}, statuses
        assert statuses[401] == 10, f"only the limit may be verified: {statuses}"
        assert all(body["error"]["code"] == "rate_limited" for s, body in replies if s == 429)
        # Locked: even the right password is not checked until the window passes.
        status, body = await post_json(http, login, {**wrong, "password": USER_PASSWORD})
        assert status == 429 and body["error"]["code"] == "rate_limited", body


# -- the setup claim code --------------------------------------------------------------------


def _claim(srv: Server) -> str:
    return (srv.data / "claim-code.txt").read_text().strip()


async def claim(http: aiohttp.ClientSession, srv: Server, code: str) -> str:
    """What the claim page answers: "wrong", "wait" or the page it moved on to."""
    async with http.post(srv.url + "/setup", data={"code": code}) as resp:
        page = await resp.text()
        if "not the claim code" in page:
            return "wrong"
        if "Too many wrong codes" in page:
            return "wait"
        return str(resp.url.path)


async def test_a_claim_code_flood_from_one_address_does_not_block_another(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(setup=False)
    async with from_address("127.0.0.2") as attacker:
        answers = Counter(await flood(100, lambda: claim(attacker, srv, "AAAA-AAAA")))
    assert answers == {"wrong": 5, "wait": 95}, f"at most 5 codes checked: {answers}"
    async with from_address("127.0.0.3") as owner:
        assert await claim(owner, srv, _claim(srv)) == "/setup/organisation"


async def test_guessers_on_many_addresses_cannot_lock_the_owner_out(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(setup=False)

    async def guess_from(host: str) -> list[str]:
        async with from_address(host) as http:
            return [await claim(http, srv, "AAAA-AAAA") for _ in range(6)]

    hosts = [f"127.0.1.{i}" for i in range(1, 21)]
    answers = Counter(a for got in await asyncio.gather(*map(guess_from, hosts)) for a in got)
    assert answers["wrong"] <= 20 * 5 and answers["wait"] >= 20, answers
    # 100+ wrong codes from everyone together: an address that has been wrong waits...
    async with from_address("127.0.1.1") as guesser:
        assert await claim(guesser, srv, _claim(srv)) == "wait"
    # ...but the owner, trying from a clean address, always gets a try.
    async with from_address("127.0.0.9") as owner:
        assert await claim(owner, srv, _claim(srv)) == "/setup/organisation"


# -- registration ----------------------------------------------------------------------------


async def test_a_registration_flood_is_refused_before_hashing_while_a_colleague_logs_in(
    make_server: Callable[..., Server],
) -> None:
    # One hashing thread and no queue: a flood that reached the hashing pool would fill it
    # and be answered "busy"; one that is refused first never gets there.
    srv = make_server(
        {
            "PYCHAT_AUTH_LOGIN_FAILURES_PER_IP": "20",
            "PYCHAT_AUTH_HASH_WORKERS": "1",
            "PYCHAT_AUTH_HASH_QUEUE": "0",
        }
    )
    await make_account(srv.url, "alice")
    register = srv.url + "/api/auth/register"
    counter = iter(range(10**6))

    def bogus() -> dict[str, str]:
        n = next(counter)
        return {"username": f"bot{n}", "password": "bot-password-1", "invite": f"guess{n}"}

    async def one_address_flood() -> list[tuple[int, Any]]:
        async with from_address("127.0.0.2") as http:
            return await flood(200, lambda: post_json(http, register, bogus()))

    async def many_addresses_flood() -> list[tuple[int, Any]]:
        async def two_from(host: str) -> list[tuple[int, Any]]:
            async with from_address(host) as http:
                return await flood(2, lambda: post_json(http, register, bogus()))

        hosts = [f"127.0.2.{i}" for i in range(1, 101)]
        return [r for got in await asyncio.gather(*map(two_from, hosts)) for r in got]

    async def alice_logs_in() -> list[int]:
        statuses = []
        async with from_address("127.0.0.3") as http:
            for _ in range(5):
                body = {"username": "alice", "password": USER_PASSWORD}
                statuses.append((await post_json(http, srv.url + "/api/auth/login", body))[0])
        return statuses

    one, many, alice = await asyncio.gather(
        one_address_flood(), many_addresses_flood(), alice_logs_in()
    )
    codes = Counter(status for status, _ in one)
    assert set(codes) == {403, 429} and codes[403] <= 20, f"cut per address: {codes}"
    assert all(body["error"]["code"] == "rate_limited" for s, body in one if s == 429)
    # Nothing of the flood was hashed: every request was refused by its invite (403), none
    # was turned away by the one-slot hashing pool being busy (429).
    assert Counter(status for status, _ in many) == {403: 200}, many[:3]
    assert all("invite" in body["error"]["message"] for _, body in many)
    assert alice == [200] * 5


async def test_a_wrong_current_password_counts_as_a_failed_login(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({"PYCHAT_AUTH_LOGIN_FAILURES_PER_USER": "10"})
    await make_account(srv.url, "bob")
    bob = await Client(srv.url).login("bob", USER_PASSWORD)
    try:
        change = {"old_password": "a-wrong-guess", "password": "new-password-1"}
        replies = await flood(30, lambda: bob.call("PATCH", "/api/me", change))
        codes = Counter(status for status, _ in replies)
        assert codes == {403: 10, 429: 20}, codes
    finally:
        await bob.close()


# -- what others see of a profile ------------------------------------------------------------


async def test_display_names_and_status_refuse_control_and_direction_characters(
    make_user: Callable[..., Any],
) -> None:
    user: Client = await make_user("names")
    for field, text in (
        ("display_name", "Ann\u202enimda"),  # right-to-left override: reads "admin..."
        ("display_name", "Ann\u2066Boss\u2069"),  # directional isolate
        ("display_name", "red\x1b[31m"),  # terminal escape
        ("display_name", "nul\x00byte"),
        ("status_text", "away\u200f"),  # right-to-left mark
    ):
        status, body = await user.call("PATCH", "/api/me", {field: text})
        assert status == 400, (field, text, body)
        assert body["error"]["code"] == "bad_request"
        assert "text-direction" in body["error"]["message"]
    me = await user.get("/api/me")
    assert me["user"]["display_name"] != "Ann\u202enimda"
    # Emoji sequences (zero-width joiners) and ordinary whitespace are fine.
    status, body = await user.call(
        "PATCH", "/api/me", {"display_name": "Ana \U0001f469\u200d\U0001f4bb\tDev"}
    )
    assert status == 200, body
    assert body["user"]["display_name"] == "Ana \U0001f469\u200d\U0001f4bb Dev"
