"""The first screen's API answers, asked for by the browser with the page itself.

The app asks for who is signed in, the people, the rooms and the open room's newest page as
soon as its code starts (spa/src/boot/bootFetches.ts). On a phone's network that start waits
for the whole script to arrive first. A `Link: rel=preload` header on the page lets the
browser send the same requests while the script downloads; the app's own fetches then take
those answers (the same URL, mode and credentials). Issue 15: the first messages sooner.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .middleware import SESSION_COOKIE

# The same page as bootFetches.ts's NEWEST_PAGE, PUBLIC_PATHS and roomAtStart: a preload the
# app does not take is a request wasted, and the browser warns of it.
NEWEST_PAGE = 50
PUBLIC_PATHS = frozenset({"/login", "/register", "/reset"})
ROOM_PATH = re.compile(r"/rooms/(\d{1,18})/?")


def boot_preloads(
    path: str, query: Mapping[str, str], headers: Mapping[str, str], cookies: Mapping[str, str]
) -> str | None:
    """The Link header for the app shell served at `path`, or None: only for a page the
    browser opens as a document (not the service worker caching the shell for every page),
    and only with a session cookie (without one, every answer would be a refusal)."""
    if headers.get("Sec-Fetch-Dest") != "document" or not cookies.get(SESSION_COOKIE):
        return None
    urls = ["/api/me"]
    if path not in PUBLIC_PATHS:
        urls += ["/api/users", "/api/rooms"]
        room = ROOM_PATH.fullmatch(path)
        if room is not None and "message" not in query:
            urls.append(f"/api/rooms/{int(room.group(1))}/messages?limit={NEWEST_PAGE}")
    # crossorigin: fetch() asks in CORS mode, and a preload is taken only by a like request.
    return ", ".join(f"<{url}>; rel=preload; as=fetch; crossorigin" for url in urls)
