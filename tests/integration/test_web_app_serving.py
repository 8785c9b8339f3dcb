"""The server hands out the built web app the way a PWA needs it (make build runs first)."""

from __future__ import annotations

import gzip
import re

from tests.client import Client
from tests.conftest import UserFactory
from tests.server import Server


async def test_app_routes_get_the_shell_with_a_strict_policy(admin: Client) -> None:
    for path in ("/", "/rooms/1", "/settings"):
        async with admin.http.get(admin.base_url + path) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            assert resp.headers["Cache-Control"] == "no-cache"
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "default-src 'self'" in csp
            assert "unsafe-inline" not in csp and "http" not in csp
            html = await resp.text()
    scripts = re.findall(r'<script[^>]*src="(/assets/[^"]+)"', html)
    assert scripts, "the shell loads its code from hashed assets"
    assert "<script>" not in html, "no inline scripts"
    async with admin.http.get(admin.base_url + scripts[0]) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"


async def test_service_worker_and_manifest_are_served_fresh(admin: Client) -> None:
    async with admin.http.get(admin.base_url + "/sw.js") as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-cache"
    async with admin.http.get(admin.base_url + "/manifest.webmanifest") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/manifest+json"
        assert (await resp.json(content_type=None))["name"]


async def test_the_app_is_sent_compressed_to_browsers_that_accept_it(admin: Client) -> None:
    """Built once at build time (brotli and gzip copies): a phone on Wi-Fi downloads a third
    of the bytes, and the Pi compresses nothing per request."""
    async with admin.http.get(admin.base_url + "/") as resp:
        html = await resp.text()
    script = re.findall(r'<script[^>]*src="(/assets/[^"]+)"', html)[0]
    sizes: dict[str, int] = {}
    for path in (script, "/", "/rooms/1", "/sw.js"):
        bodies: dict[str, bytes] = {}
        for accepted in ("identity", "gzip", "gzip, deflate, br"):
            async with admin.http.get(
                admin.base_url + path,
                headers={"Accept-Encoding": accepted},
                auto_decompress=False,
            ) as resp:
                assert resp.status == 200
                assert "Accept-Encoding" in resp.headers.get("Vary", ""), path
                encoding = resp.headers.get("Content-Encoding", "identity")
                assert encoding == accepted.split(",")[-1].strip(), (path, accepted)
                bodies[encoding] = await resp.read()
        assert gzip.decompress(bodies["gzip"]) == bodies["identity"], path
        # No brotli decoder here: it must at least be the smallest.
        assert len(bodies["br"]) < len(bodies["gzip"]) < len(bodies["identity"]), path
        sizes[path] = len(bodies["identity"])
    assert sizes["/"] == sizes["/rooms/1"], "every app route gets the same shell"


async def test_the_code_a_room_opens_with_is_compiled_as_it_downloads(admin: Client) -> None:
    """The first load's scripts carry V8's compile hint (spa/build/compileHints.ts): a
    phone compiles them while they stream in instead of function by function on the main
    thread as the app starts (issue 15, blocking time). Code loaded later does not."""
    async with admin.http.get(admin.base_url + "/") as resp:
        html = await resp.text()
    first_load = re.findall(r'<script[^>]*src="(/assets/[^"]+\.js)"', html)
    first_load += re.findall(r'<link rel="modulepreload"[^>]*href="(/assets/[^"]+\.js)"', html)
    assert len(first_load) > 3, html
    lazy: set[str] = set()
    for path in first_load:
        async with admin.http.get(admin.base_url + path) as resp:
            code = await resp.text()
        assert code.startswith("//# allFunctionsCalledOnLoad\n"), path
        lazy.update(re.findall(r'"(assets/AdminView-[^"]+\.js)"', code))  # the admin area
    assert lazy, "the entry names the admin area's chunk"
    for path in lazy:
        async with admin.http.get(f"{admin.base_url}/{path}") as resp:
            assert resp.status == 200
            assert not (await resp.text()).startswith("//# allFunctionsCalledOnLoad"), path


async def test_an_opened_page_preloads_the_answers_its_first_screen_needs(
    admin: Client, server: Server
) -> None:
    """The browser asks for who is signed in, the people, the rooms and the open room's
    newest page with the page itself, while the app's code is still on its way (issue 15);
    only where those answers will be taken, so nothing is asked for in vain."""
    document = {"Sec-Fetch-Dest": "document"}

    async def preloads(client: Client, path: str, headers: dict[str, str]) -> list[str]:
        async with client.http.get(client.base_url + path, headers=headers) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            assert "Cookie" in resp.headers["Vary"]
            links = resp.headers.get("Link")
        if links is None:
            return []
        for link in links.split(", "):
            assert link.endswith("; rel=preload; as=fetch; crossorigin"), link
        return [link.split(">", 1)[0].lstrip("<") for link in links.split(", ")]

    core = ["/api/me", "/api/users", "/api/rooms"]
    assert await preloads(admin, "/rooms/7", document) == [*core, "/api/rooms/7/messages?limit=50"]
    assert await preloads(admin, "/", document) == core
    # A linked message opens elsewhere than the newest page; the sign-in page asks only who.
    assert await preloads(admin, "/rooms/7?message=3", document) == core
    assert await preloads(admin, "/login", document) == ["/api/me"]
    # Not a page being opened (the service worker keeping one shell for every page), nor
    # anyone signed in: every answer would be unused or a refusal.
    assert await preloads(admin, "/rooms/7", {}) == []
    stranger = Client(server.url)
    try:
        assert await preloads(stranger, "/rooms/7", document) == []
    finally:
        await stranger.close()


async def test_no_path_escapes_the_app_folder_and_the_api_is_never_the_app(
    admin: Client,
) -> None:
    for path in ("/..%2f..%2fpyproject.toml", "/assets/../../app.py", "/.hidden"):
        async with admin.http.get(admin.base_url + path) as resp:
            assert "[build-system]" not in await resp.text()
    for method in ("GET", "POST"):
        status, body = await admin.call(method, "/api/no-such-route")
        assert status == 404 and body["error"]["code"] == "not_found"


async def test_rooms_name_their_owners(make_user: UserFactory) -> None:
    owner, member = await make_user("own"), await make_user("mem")
    status, body = await owner.call(
        "POST", "/api/rooms", {"kind": "private", "name": "ops", "members": [member.id]}
    )
    assert status == 201
    assert body["room"]["owners"] == [owner.id]
    room = (await member.get(f"/api/rooms/{body['room']['id']}"))["room"]
    assert room["owners"] == [owner.id] and sorted(room["members"]) == sorted([owner.id, member.id])


async def test_search_pages_with_has_more(make_user: UserFactory) -> None:
    user = await make_user("srch")
    body = await user.post("/api/rooms", {"kind": "private", "name": "s"}, expect=201)
    room = body["room"]["id"]
    sock = await user.connect()
    for i in range(3):
        await sock.send_message(room, f"zebracorn number {i}")
    first = await user.get(f"/api/search?q=zebracorn&room={room}&limit=2")
    assert [m["body"] for m in first["messages"]] == ["zebracorn number 2", "zebracorn number 1"]
    assert first["has_more"] is True
    oldest = first["messages"][-1]["id"]
    rest = await user.get(f"/api/search?q=zebracorn&room={room}&limit=2&before={oldest}")
    assert [m["body"] for m in rest["messages"]] == ["zebracorn number 0"]
    assert rest["has_more"] is False
