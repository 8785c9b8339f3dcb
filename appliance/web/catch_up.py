"""A NotFound that may only mean "not yet heard here": a room made a moment ago through
another node (or by a `pychat` command) is known to this process once it has published
the events committed elsewhere. On a NotFound, the request catches up with the log and,
if that brought anything, is asked once more. A NotFound is raised before anything is
written to the database (a write job that raises it rolls back), so asking again is safe;
a rate-limit token taken before it is not given back (such a 404 costs two).
"""

from __future__ import annotations

from aiohttp import web

from ..engine import Database
from ..errors import NotFound
from ..state.app_keys import SERVICES
from .middleware import Handler


async def heard_more(db: Database) -> bool:
    """Publish what was committed elsewhere; whether that was anything."""
    before = db.published_seq
    await db.publish_foreign_events()
    return db.published_seq != before


@web.middleware
async def catch_up_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Innermost, so the checks before it run once. A multipart body is streamed by its
    handler and cannot be read again: such a request gets its NotFound (the client tries
    again); a JSON body is kept by aiohttp once read."""
    try:
        return await handler(request)
    except NotFound:
        if request.content_type == "multipart/form-data":
            raise
        if not await heard_more(request.app[SERVICES].db):
            raise
        return await handler(request)
