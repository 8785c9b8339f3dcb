"""Bad input never breaks anything: every malformed frame or body gets a clear error.

Hypothesis generates frames of many shapes and sends them all on one socket; each must be
answered by one `ok: false` reply whose code is in the protocol's list (never
`internal_error`), the socket must stay open, and afterwards that socket and other users
chat normally. The generator runs in a worker thread and hands each frame to the test's
event loop, so the socket survives from one example to the next.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.app import build_app
from appliance.config import load_settings
from appliance.state.app_keys import WS_COMMANDS
from tests.client import WAIT, Client, Socket
from tests.conftest import USER_PASSWORD, People, UserFactory, new_room, people_on
from tests.server import ADMIN_PASSWORD, Server

Frame = dict[str, Any]

# The protocol's error codes; `internal_error` (a server bug) is deliberately absent.
ERROR_CODES = {
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "too_large",
    "rate_limited",
    "setup_required",
    "insufficient_storage",
}
MAX_ID = (1 << 63) - 1
MESSAGE_CHARS = 10000  # the shared server's limits.message_chars (the default)
FRAME_BYTES = 65536  # and its limits.frame_bytes
MISSING = 10**12  # an id no test will reach

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure here is a bug, not bad luck
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ------------------------------------------------------------------------------

any_text = st.text(max_size=40)  # travels as UTF-8; lone surrogates come separately
surrogates = st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=MAX_ID - 2, max_value=1 << 70),
    st.floats(),
    any_text,
    surrogates,  # inside JSON they travel as \\ud800 escapes
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
not_str = json_values.filter(lambda v: not isinstance(v, str))
not_bool = json_values.filter(lambda v: not isinstance(v, bool))


def bad_id(nullable: bool = False) -> st.SearchStrategy[Any]:
    """Values an id field must refuse (or answer not_found for)."""
    ints = st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=MAX_ID + 1),
        st.integers(min_value=MISSING, max_value=MAX_ID),  # well-formed but nobody's
    )
    other = json_values.filter(lambda v: isinstance(v, bool) or not isinstance(v, int))
    if nullable:
        other = other.filter(lambda v: v is not None)
    return st.one_of(ints, other, st.sampled_from(["1", "0x10", "1e3", 1.0, 2.5, -0.0]))


bad_seq = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=MAX_ID + 1),
    json_values.filter(lambda v: v is not None and (isinstance(v, bool) or not isinstance(v, int))),
)
bad_body = st.one_of(
    not_str,
    st.sampled_from(["", " ", "\n\t ", "a\x00b"]),
    st.integers(MESSAGE_CHARS + 1, MESSAGE_CHARS * 4 + 200).map(lambda n: "b" * n),
)
bad_client_id = st.one_of(
    not_str,
    st.just(""),
    st.integers(65, 300).map(lambda n: "c" * n),
    st.sampled_from(["has space", "é", "tab\there", "\x7f", "nul\x00"]),
)
bad_emoji = st.one_of(
    not_str, st.sampled_from(["", "a b", " ", "\n"]), st.integers(65, 200).map("e".__mul__)
)
bad_attachments = st.one_of(
    json_values.filter(lambda v: not isinstance(v, list)),
    st.lists(st.integers(1, MAX_ID), min_size=1, max_size=3),  # uploads are not offered yet
    st.lists(bad_id(), min_size=1, max_size=3),
    st.lists(st.integers(1, 100), min_size=21, max_size=25),
)


@dataclass
class Target:
    """What the frames aim at: a real room and message of the fuzzing user."""

    room: int
    message: int
    head: int
    templates: dict[str, Frame] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.templates = {
            "hello": {"since": self.head},
            "message.send": {"room": self.room, "body": "hi", "client_id": "fuzz-1"},
            "message.edit": {"message": self.message, "body": "edited"},
            "message.delete": {"message": self.message},
            "reaction.set": {"message": self.message, "emoji": "👍", "on": True},
            "read.mark": {"room": self.room, "message": self.message},
            "typing": {"room": self.room},
            "ping": {},
        }


BAD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "since": bad_seq,
    "room": bad_id(),
    "message": bad_id(),
    "thread": bad_id(nullable=True),
    "body": bad_body,
    "client_id": bad_client_id,
    "emoji": bad_emoji,
    "on": not_bool,
    "attachments": bad_attachments,
}
OPTIONAL = {"thread", "attachments"}


@dataclass(frozen=True)
class Case:
    """One frame to send: text (or bytes), and the `req` it carries. The reply carries that
    req, or null when the server could not read it (not JSON, too big, a bad req)."""

    payload: str | bytes
    req: str | None

    def __repr__(self) -> str:
        shown = self.payload if len(self.payload) <= 200 else self.payload[:200]
        return f"Case({shown!r}{'...' if len(self.payload) > 200 else ''}, req={self.req!r})"


def as_case(obj: Any) -> Case:
    req = obj.get("req") if isinstance(obj, dict) else None
    return Case(json.dumps(obj), req if isinstance(req, str) else None)


@st.composite
def mutated(draw: st.DrawFn, target: Target) -> Case:
    """A real command with exactly one thing wrong."""
    kind = draw(st.sampled_from(sorted(target.templates)))
    frame: Frame = {"type": kind, **target.templates[kind], "req": f"q{draw(st.integers(0, 9999))}"}
    if kind == "message.send":
        for name in sorted(OPTIONAL):
            if draw(st.booleans()):
                frame[name] = draw(BAD_VALUES[name])
                return as_case(frame)
    fields = [k for k in target.templates[kind] if k not in OPTIONAL]
    how = draw(st.sampled_from(["drop", "extra", "wrong", "req"] if fields else ["extra", "req"]))
    if how == "drop":
        del frame[draw(st.sampled_from(fields))]
    elif how == "extra":
        known = {*target.templates[kind], *OPTIONAL, "type", "req"}
        name = draw(any_text.filter(lambda k: k not in known) | surrogates)
        frame[name] = draw(json_values)
    elif how == "wrong":
        name = draw(st.sampled_from(fields))
        frame[name] = draw(BAD_VALUES[name])
    else:
        frame["req"] = draw(
            json_values.filter(lambda v: v is not None and not isinstance(v, str))
            | st.integers(65, 200).map("r".__mul__)
        )
    return as_case(frame)


@st.composite
def unknown_type(draw: st.DrawFn, target: Target) -> Case:
    kind = draw(
        (any_text | surrogates).filter(lambda t: t not in target.templates)
        | json_values.filter(lambda v: not isinstance(v, str))
    )
    frame = draw(st.dictionaries(any_text, json_values, max_size=4))
    frame.pop("req", None)
    frame["type"] = kind
    if draw(st.booleans()):
        frame["req"] = draw(any_text | surrogates)
    if draw(st.booleans()):
        frame.pop("type")
    return as_case(frame)


def not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def frames(target: Target) -> st.SearchStrategy[Case]:
    templates = [json.dumps({"type": k, **v, "req": "t"}) for k, v in target.templates.items()]
    return st.one_of(
        mutated(target),
        mutated(target),
        mutated(target),
        unknown_type(target),
        # Not JSON at all, or cut short.
        any_text.filter(not_json).map(lambda t: Case(t, None)),
        st.builds(
            lambda t, n: Case(t[: max(1, len(t) - n)], None),
            st.sampled_from(templates),
            st.integers(1, 30),
        ),
        # JSON, but not an object.
        json_values.filter(lambda v: not isinstance(v, dict)).map(
            lambda v: Case(json.dumps(v), None)
        ),
        # Deep nesting, bare or inside a command.
        st.integers(500, 30000).map(lambda n: Case(deep(n), None)),
        st.integers(500, 30000).map(
            lambda n: Case('{"type":"ping","req":"n","x":' + deep(n) + "}", "n")
        ),
        # Numbers too long for any integer type.
        st.integers(19, 6000).map(
            lambda n: Case('{"type":"message.delete","req":"big","message":' + "9" * n + "}", "big")
        ),
        # Frames over the byte limit.
        st.integers(FRAME_BYTES + 1, FRAME_BYTES + 4096).map(
            lambda n: Case(json.dumps({"type": "ping", "req": "huge", "pad": "p" * n}), "huge")
        ),
        # Binary frames.
        st.binary(max_size=200).map(lambda b: Case(b, None)),
    )


# -- running frames against the server -------------------------------------------------------


async def reply_to(sock: Socket, case: Case) -> Frame:
    """Send one case; the reply it gets (with its req, or `"req": null`)."""
    waiter = asyncio.ensure_future(
        sock.wait_for(lambda f: f.get("type") == "reply" and f.get("req") in (None, case.req))
    )
    if isinstance(case.payload, bytes):
        await sock.ws.send_bytes(case.payload)
    else:
        await sock.ws.send_str(case.payload)
    closed = asyncio.ensure_future(sock.closed.wait())
    try:
        await asyncio.wait([waiter, closed], timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        assert not sock.closed.is_set(), f"the server closed the socket ({sock.close_code})"
        assert waiter.done(), "no reply"
        return waiter.result()
    finally:
        await dismiss(closed, waiter)


async def dismiss(*tasks: asyncio.Future[Any]) -> None:
    """Cancel helper tasks and collect their outcomes, so none is left unretrieved."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def check_error(reply: Frame, case: Case) -> None:
    assert reply["type"] == "reply" and reply["ok"] is False, (case, reply)
    assert reply["req"] in (case.req, None), (case, reply)
    error = reply["error"]
    assert set(error) == {"code", "message"}, (case, reply)
    assert error["code"] in ERROR_CODES, (case, reply)
    assert isinstance(error["message"], str) and error["message"], (case, reply)


async def sample_room(make_user: UserFactory) -> tuple[Client, Client, Frame, Frame, Socket]:
    alice, bob = await make_user("fuzz"), await make_user("peer")
    room = await new_room(alice, bob)
    sock = await alice.connect()
    message = await sock.send_message(room["id"], "the message frames aim at")
    return alice, bob, room, message, sock


async def still_chatting(alice: Client, bob: Client, sock: Socket, room: Frame) -> None:
    peer = await bob.connect()
    sent = await sock.send_message(room["id"], "still fine")
    got = await peer.event("message.new", room=room["id"])
    assert got["data"]["message"] == sent
    back = await peer.send_message(room["id"], "and back")
    got = await sock.wait_for(
        lambda f: f.get("kind") == "message.new" and f["data"]["message"]["id"] == back["id"]
    )
    assert got["data"]["message"] == back
    assert (await alice.get("/api/health"))["status"] == "ok"


# -- WebSocket -------------------------------------------------------------------------------


async def test_malformed_frames_get_errors_and_break_nothing(make_user: UserFactory) -> None:
    alice, bob, room, message, sock = await sample_room(make_user)
    target = Target(room["id"], message["id"], int(sock.hello_reply["data"]["head"]))
    loop = asyncio.get_running_loop()
    current = [sock]  # a frame that kills the socket fails its example; the next gets a new one

    async def one(case: Case) -> None:
        if current[0].closed.is_set():
            current[0] = await alice.connect()
        check_error(await reply_to(current[0], case), case)

    @FUZZ
    @given(case=frames(target))
    def run(case: Case) -> None:
        asyncio.run_coroutine_threadsafe(one(case), loop).result(WAIT * 2)

    await asyncio.to_thread(run)

    assert current == [sock]
    await still_chatting(alice, bob, sock, room)
    stray = [f for f in sock.frames if f.get("type") == "reply"]
    assert stray == []  # exactly one reply per frame
    stored = await alice.get(f"/api/rooms/{room['id']}/messages")
    assert [m["body"] for m in stored["messages"]] == [message["body"], "still fine", "and back"]


async def test_a_number_too_long_to_read_is_a_bad_request(make_user: UserFactory) -> None:
    alice, bob, room, _, sock = await sample_room(make_user)
    case = Case('{"type":"message.delete","req":"big","message":' + "9" * 5000 + "}", "big")

    check_error(await reply_to(sock, case), case)

    await still_chatting(alice, bob, sock, room)


async def test_lone_surrogates_in_a_frame_get_an_error_reply(make_user: UserFactory) -> None:
    alice, bob, room, _, sock = await sample_room(make_user)
    for frame in (
        {"type": "no\ud800such", "req": "s1"},
        {"type": "ping", "req": "s2", "\udc00": 1},
        {"type": "ping", "req": "\ud800"},
    ):
        case = as_case(frame)
        check_error(await reply_to(sock, case), case)

    await still_chatting(alice, bob, sock, room)


async def test_a_message_with_a_lone_surrogate_is_no_internal_error(
    make_user: UserFactory,
) -> None:
    """A body that is not valid Unicode: refused as the client's mistake, or stored in a
    form that can be read back; never a server error."""
    alice, bob, room, _, sock = await sample_room(make_user)
    frame = {"type": "message.send", "room": room["id"], "body": "hi \ud83d", "client_id": "s"}
    case = as_case({**frame, "req": "surrogate"})

    reply = await reply_to(sock, case)

    if not reply["ok"]:
        check_error(reply, case)
    status, stored = await alice.call("GET", f"/api/rooms/{room['id']}/messages")
    assert status == 200, stored
    await still_chatting(alice, bob, sock, room)


# -- REST ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    raw: bytes


rest_bodies = st.one_of(
    json_values.map(lambda v: Body(json.dumps(v).encode())),
    st.dictionaries(
        st.sampled_from(["kind", "name", "topic", "members", "user_ids", "username", "password"])
        | any_text,
        json_values,
        max_size=5,
    ).map(lambda d: Body(json.dumps(d).encode())),
    st.binary(max_size=100).map(Body),
    st.integers(500, 20000).map(lambda n: Body(deep(n).encode())),
    st.integers(19, 6000).map(lambda n: Body(b'{"members":[' + b"7" * n + b"]}")),
    surrogates.map(lambda s: Body(json.dumps({"kind": "private", "name": s}).encode())),
)
REST_TARGETS = [
    ("POST", "/api/rooms"),
    ("POST", "/api/rooms/{room}/members"),
    ("PATCH", "/api/rooms/{room}"),
    ("POST", "/api/auth/login"),
    ("PATCH", "/api/me"),
    ("POST", "/api/admin/users"),
    ("POST", "/api/auth/register"),
]


async def test_malformed_rest_bodies_get_errors_and_break_nothing(
    server: Server, make_user: UserFactory
) -> None:
    alice, bob, room, _, sock = await sample_room(make_user)
    loop = asyncio.get_running_loop()
    http = aiohttp.ClientSession(cookie_jar=alice.http.cookie_jar)

    async def one(method: str, path: str, body: Body) -> None:
        async with http.request(
            method,
            server.url + path.format(room=room["id"]),
            data=body.raw,
            headers={"Content-Type": "application/json"},
        ) as resp:
            text = await resp.text()
            assert resp.status < 500, (method, path, body, resp.status, text)
            if resp.status >= 400:
                error = json.loads(text)["error"]
                assert error["code"] in ERROR_CODES, (method, path, body, text)
                assert isinstance(error["message"], str) and error["message"]

    @FUZZ
    @given(target=st.sampled_from(REST_TARGETS), body=rest_bodies)
    def run(target: tuple[str, str], body: Body) -> None:
        asyncio.run_coroutine_threadsafe(one(*target, body), loop).result(WAIT * 2)

    try:
        await asyncio.to_thread(run)
    finally:
        await http.close()

    await still_chatting(alice, bob, sock, room)
    assert (await alice.get("/api/me"))["user"]["id"] == alice.id


async def test_rest_bodies_that_cannot_be_read_are_bad_requests(
    server: Server, make_user: UserFactory
) -> None:
    alice = await make_user("rest")
    for raw in (
        b'{"kind":"private","members":[' + b"7" * 5000 + b"]}",
        deep(5000).encode(),
        json.dumps({"kind": "private", "name": "x\ud800"}).encode(),
    ):
        async with alice.http.post(
            server.url + "/api/rooms", data=raw, headers={"Content-Type": "application/json"}
        ) as resp:
            text = await resp.text()
            assert resp.status < 500, (raw[:40], resp.status, text)
            if resp.status >= 400:
                assert json.loads(text)["error"]["code"] == "bad_request", (raw[:40], text)


# -- every route and every frame type, of whatever app the server builds ----------------------
#
# The lists come from the app itself (its router and its command table), so a route or frame
# type added later is fuzzed without anyone remembering to add it here. Each test runs a
# server of its own and finally reads its output: no traceback may appear in it.

# A server answers 5xx only for these reasons, never for what a client sent.
SERVER_SIDE_CODES = {"setup_required", "unavailable", "failed", "insufficient_storage"}
WIDE = settings(FUZZ, max_examples=400)


def the_app() -> Any:
    """The app `pychat serve` builds, never started (building it does no I/O)."""
    return build_app(load_settings(Path(tempfile.gettempdir()) / "pychat-fuzz-unused", environ={}))


def app_routes() -> list[tuple[str, str]]:
    app = the_app()
    return sorted({(r.method, r.resource.canonical) for r in app.router.routes() if r.resource})


def frame_types() -> dict[str, dict[str, bool]]:
    """Each frame type with its fields (name -> required)."""
    app = the_app()
    return {k: {n: f.required for n, f in v.fields.items()} for k, v in app[WS_COMMANDS].items()}


def check_api_error(status: int, text: str, what: Any) -> None:
    assert status != 500, (what, status, text[:500])
    if status < 400:
        return
    try:
        error = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        raise AssertionError((what, status, "no error envelope", text[:500])) from None
    assert set(error) == {"code", "message"}, (what, text[:500])
    assert error["code"] != "internal_error", (what, text[:500])
    if status >= 500:
        assert error["code"] in SERVER_SIDE_CODES, (what, text[:500])
    assert isinstance(error["message"], str) and error["message"], (what, text[:500])


OwnServer = tuple[Server, People]


@pytest.fixture
async def own_server(make_server: Callable[..., Server]) -> AsyncIterator[OwnServer]:
    """A server of the test's own (its output is read for tracebacks) and its accounts."""
    server = make_server()
    people = people_on(server.url)
    make = await anext(people)
    try:
        yield server, make
    finally:
        await anext(people, None)  # runs its cleanup


def assert_no_traceback(server: Server) -> None:
    log = server.log()
    assert "Traceback" not in log, log[log.find("Traceback") - 2000 :][:6000]


# What a frame field holds when it is well-formed; {} entries are filled in per test.
NONFINITE = st.sampled_from([float("nan"), float("inf"), float("-inf")])
hostile_values = st.one_of(
    json_values,
    NONFINITE,
    st.integers(min_value=1 << 63, max_value=1 << 80),
    st.lists(NONFINITE, min_size=1, max_size=3),
    st.dictionaries(any_text, NONFINITE, min_size=1, max_size=2),
)


def plausible(target: Target, peer_conn: int) -> dict[str, st.SearchStrategy[Any]]:
    ids = st.sampled_from([target.room, target.message, peer_conn, 1])
    return {
        "room": st.just(target.room),
        "message": st.just(target.message),
        "to": st.just(peer_conn),
        "replaces": st.just(peer_conn),
        "thread": st.one_of(st.none(), st.just(target.message)),
        "since": st.one_of(st.none(), st.integers(0, target.head)),
        "after": st.integers(0, 10),
        "until": st.integers(0, 10),
        "body": st.text(min_size=1, max_size=30),
        "client_id": st.uuids().map(str),
        "attachments": st.just([]),
        "emoji": st.sampled_from(["👍", "🎉"]),
        "on": st.booleans(),
        "audio": st.booleans(),
        "video": st.booleans(),
        "screen": st.booleans(),
        "erase": st.booleans(),
        "data": st.dictionaries(st.sampled_from(["sdp", "candidate"]), any_text, max_size=2),
        "op": st.just(
            {"id": "op1", "kind": "stroke", "color": "#000000", "size": 3, "points": [0, 0, 5, 5]}
        ),
        "x": st.floats(-100, 100),
        "y": st.floats(-100, 100),
        "id": st.sampled_from(["s1", "s2"]),
        "color": st.just("#112233"),
        "size": st.integers(1, 20),
        "points": st.lists(st.integers(0, 100), min_size=2, max_size=8),
        "_any_id": ids,
    }


@st.composite
def any_frame(
    draw: st.DrawFn, types: dict[str, dict[str, bool]], good: dict[str, st.SearchStrategy[Any]]
) -> Case:
    """A frame of any type, each field well-formed or hostile (NaN and Infinity included)."""
    kind = draw(st.sampled_from(sorted(types)))
    req = f"a{draw(st.integers(0, 99999))}"
    frame: Frame = {"type": kind, "req": req}
    for name, required in types[kind].items():
        if not required and draw(st.booleans()):
            continue
        if draw(st.integers(0, 3)) == 0:
            frame[name] = draw(hostile_values)
        else:
            frame[name] = draw(good.get(name, good["_any_id"]))
    if draw(st.integers(0, 5)) == 0:
        frame[draw(any_text)] = draw(hostile_values)
    opaque = [n for n in ("data", "op") if n in frame]
    if opaque and draw(st.integers(0, 3)) == 0:
        frame[opaque[0]] = "__BIG__"  # valid JSON syntax, but too large for a float
    text = json.dumps(frame)  # NaN and Infinity come out as the bare words a client may send
    text = text.replace('"__BIG__"', '{"n": [1e999]}')
    if "NaN" in text or "Infinity" in text:
        return Case(text, None)
    return Case(text, req)


def nonfinite_in(value: Any) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(nonfinite_in(v) for v in value.values())
    if isinstance(value, list):
        return any(nonfinite_in(v) for v in value)
    return False


async def test_every_frame_type_survives_hostile_fields(own_server: OwnServer) -> None:
    server, make = own_server
    types = frame_types()
    alice, bob = await make("fuzz"), await make("peer")
    room = await new_room(alice, bob)
    sock, peer = await alice.connect(), await bob.connect()
    message = await sock.send_message(room["id"], "the message frames aim at")
    target = Target(room["id"], message["id"], int(sock.hello_reply["data"]["head"]))
    good = plausible(target, int(peer.hello_reply["data"]["conn"]))
    loop = asyncio.get_running_loop()
    current = [sock]

    async def one(case: Case) -> None:
        if current[0].closed.is_set():
            current[0] = await alice.connect()
        reply = await reply_to(current[0], case)
        if not reply["ok"]:
            check_error(reply, case)
        else:
            assert reply["req"] == case.req, (case, reply)

    @WIDE
    @given(case=any_frame(types, good))
    def run(case: Case) -> None:
        asyncio.run_coroutine_threadsafe(one(case), loop).result(WAIT * 2)

    await asyncio.to_thread(run)

    assert current == [sock], "a frame closed the socket"
    # Nothing the server sent on (signals, strokes, events) carries NaN or Infinity.
    for frame in [*sock.frames, *peer.frames]:
        assert not nonfinite_in(frame), frame
    await sock.request({"type": "ping"})
    assert_no_traceback(server)


# -- REST -------------------------------------------------------------------------------------

PATH_VALUES = st.one_of(
    st.sampled_from(
        [
            "1",
            "2",
            "0",
            "-1",
            "00",
            "01",
            "²",
            "¹²",
            "١",
            "٣٤",
            "１",
            "𝟗",
            "9" * 18,
            "9" * 19,
            "9" * 60,
            "1e3",
            "0x1",
            " 1",
            "1 ",
            "1.5",
            "\x00",
            "..",
            "a" * 300,
            "%",
            "ü",
        ]
    ),
    st.text(max_size=20),
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
QUERY_NAMES = st.sampled_from(["limit", "before", "after", "room", "q", "dry_run", "since"])
QUERY_VALUES = st.one_of(PATH_VALUES, st.integers().map(str))
CHARSETS = st.sampled_from(
    [
        "",
        "; charset=utf-8",
        "; charset=UTF-8",
        "; charset=bogus",
        "; charset=rot13",
        "; charset=latin-1",
        "; charset=utf-16",
        "; charset=",
        "; charset=hex",
        '; charset="x"',
    ]
)
FIELD_NAMES = (
    st.sampled_from(["file", "backup", "certificate", "key", "names", "duration_ms", "avatar", ""])
    | any_text
)


@st.composite
def multipart_body(draw: st.DrawFn) -> tuple[str, bytes]:
    """A multipart/form-data body, well or badly formed, and the Content-Type it is sent with."""
    used = draw(
        st.sampled_from(["b0und", "x" * 70, "a-b_c'd"])
        | st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=80)
    )
    declared = draw(st.sampled_from([None, "", used, used + "x", "x" * 71]) | header_text)
    content_type = "multipart/form-data"
    if declared is not None:
        content_type += f"; boundary={declared}"
    out = b""
    for _ in range(draw(st.integers(0, 3))):
        name, filename = draw(FIELD_NAMES), draw(st.none() | any_text | st.just("a\x00b.png"))
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{used}\r\nContent-Disposition: {disposition}\r\n".encode("utf-8", "replace")
        for header in draw(
            st.lists(
                st.sampled_from(
                    [
                        "Content-Type: image/png",
                        "Content-Length: x",
                        "Content-Length: 99999",
                        "Content-Transfer-Encoding: base64",
                        "Content-Encoding: bogus",
                        "X: \x01",
                    ]
                ),
                max_size=2,
            )
        ):
            out += header.encode() + b"\r\n"
        out += b"\r\n" + draw(st.binary(max_size=64)) + b"\r\n"
    if draw(st.booleans()):
        out += f"--{used}--\r\n".encode("utf-8", "replace")
    return content_type, out


@st.composite
def rest_request(
    draw: st.DrawFn, routes: list[tuple[str, str]]
) -> tuple[str, str, str, dict[str, str], bytes]:
    """(caller, method, url path and query, headers, body)."""
    method, template = draw(st.sampled_from(routes))
    path = template
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + quote(draw(PATH_VALUES), safe="") + path[end + 1 :]
    query = draw(st.dictionaries(QUERY_NAMES | any_text, QUERY_VALUES, max_size=3))
    if query:
        path += "?" + urlencode(query)
    kind = draw(st.sampled_from(["none", "json", "json", "raw", "multipart", "constants"]))
    headers: dict[str, str] = {}
    body = b""
    if kind == "json":
        headers["Content-Type"] = "application/json" + draw(CHARSETS)
        body = json.dumps(draw(json_values | st.dictionaries(any_text, json_values))).encode()
    elif kind == "raw":
        headers["Content-Type"] = draw(
            st.sampled_from(["application/json", "text/plain", "multipart/form-data", ""])
            | header_text
        )
        body = draw(
            st.binary(max_size=200) | st.integers(500, 20000).map(lambda n: deep(n).encode())
        )
    elif kind == "multipart":
        headers["Content-Type"], body = draw(multipart_body())
    elif kind == "constants":
        headers["Content-Type"] = "application/json"
        word = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000]))
        body = ('{"name":' + word + ',"uses":' + word + ',"user_ids":[' + word + "]}").encode()
    caller = draw(st.sampled_from(["anonymous", "user", "admin"]))
    return caller, method, path, headers, body


async def test_every_rest_route_answers_hostile_requests_with_an_error_envelope(
    own_server: OwnServer,
) -> None:
    server, make = own_server
    routes = app_routes()
    assert ("GET", "/api/rooms/{id}/messages") in routes  # the router was read
    alice = await make("fuzz")
    admin = await Client(server.url).login("admin", ADMIN_PASSWORD)
    await new_room(alice, name="target")
    clients = {
        "anonymous": aiohttp.ClientSession(),
        "user": alice.http,
        "admin": admin.http,
    }
    logins = {
        "user": (alice, alice.user["username"], USER_PASSWORD),
        "admin": (admin, "admin", ADMIN_PASSWORD),
    }
    loop = asyncio.get_running_loop()

    async def one(
        caller: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> None:
        what = (caller, method, path, headers, body[:200])
        async with clients[caller].request(
            method,
            server.url + path,
            data=body or None,
            headers=headers,
            allow_redirects=False,
        ) as resp:
            text = await resp.text(errors="replace")
        if method != "HEAD" and path.startswith("/api/"):
            check_api_error(resp.status, text, what)
        else:
            assert resp.status != 500, (what, resp.status, text[:300])
        if resp.status == 401 and caller in logins:
            # The fuzz logged itself out (or changed a password): sign in again if it can.
            client, username, password = logins[caller]
            await client.call(
                "POST", "/api/auth/login", {"username": username, "password": password}
            )

    @WIDE
    @given(request=rest_request(routes))
    def run(request: tuple[str, str, str, dict[str, str], bytes]) -> None:
        asyncio.run_coroutine_threadsafe(one(*request), loop).result(WAIT * 2)

    try:
        await asyncio.to_thread(run)
    finally:
        await clients["anonymous"].close()
        await admin.close()
    assert (await alice.get("/api/health"))["status"] == "ok"
    assert_no_traceback(server)


async def test_a_device_not_yet_set_up_answers_hostile_requests_without_a_server_error(
    make_server: Callable[..., Server],
) -> None:
    """Before setup the wizard's pages take forms: the same hostile requests, anonymous."""
    server = make_server(setup=False)
    routes = app_routes()
    loop = asyncio.get_running_loop()
    http = aiohttp.ClientSession()

    async def one(method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        what = (method, path, headers, body[:200])
        async with http.request(
            method, server.url + path, data=body or None, headers=headers, allow_redirects=False
        ) as resp:
            text = await resp.text(errors="replace")
        if method != "HEAD" and path.startswith("/api/"):
            check_api_error(resp.status, text, what)
        else:
            assert resp.status != 500, (what, resp.status, text[:300])

    @settings(FUZZ, max_examples=300)
    @given(request=rest_request(routes), form=st.booleans())
    def run(request: tuple[str, str, str, dict[str, str], bytes], form: bool) -> None:
        _, method, path, headers, body = request
        if form and method == "POST":  # what the wizard's forms send
            charset = headers.get("Content-Type", "").partition(";")[2]
            headers = {"Content-Type": "application/x-www-form-urlencoded" + charset}
            path = path if path.startswith("/setup") else "/setup"
        asyncio.run_coroutine_threadsafe(one(method, path, headers, body), loop).result(WAIT * 2)

    try:
        await asyncio.to_thread(run)
    finally:
        await http.close()
    assert_no_traceback(server)
