"""Large JSON replies are sent gzip-compressed to clients that accept it.

A page of 50 messages is ~20 KB of JSON and ~3 KB gzipped: over a phone's Wi-Fi that is the
difference a person sees. The built web app has its compressed copies made at build time
(static.py); this covers the API's JSON, which is made per request. Small bodies are left
alone (the headers would cost more than the saving) and the level is modest, so a Pi spends
little CPU on it. Python has no brotli without another dependency; gzip is what every
browser accepts.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MIN_BYTES = 1024
LEVEL = 5  # most of level 9's saving on JSON for a fraction of its CPU
COMPRESSIBLE_TYPES = frozenset({"application/json"})


def accepts_gzip(accept_encoding: str) -> bool:
    """True when the header names gzip (or `*`) without `q=0`."""
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() not in ("gzip", "x-gzip", "*"):
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        return quality > 0
    return False


def gzip_bytes(body: bytes) -> bytes:
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()


@web.middleware
async def compression_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    # Only finished, in-memory replies: files, streams and sockets are StreamResponses, and a
    # prepared response has already sent its headers.
    if type(response) is not web.Response or response.prepared:
        return response
    if response.content_type not in COMPRESSIBLE_TYPES:
        return response
    response.headers.add(hdrs.VARY, hdrs.ACCEPT_ENCODING)
    body = response.body
    if (
        not isinstance(body, bytes)
        or len(body) < MIN_BYTES
        or hdrs.CONTENT_ENCODING in response.headers
        or not accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
    ):
        return response
    response.body = gzip_bytes(body)
    response.headers[hdrs.CONTENT_ENCODING] = "gzip"
    return response
