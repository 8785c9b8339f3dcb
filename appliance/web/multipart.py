"""Reading multipart/form-data bodies: whatever a client sends, a clear 400, never a 500.

aiohttp's reader raises KeyError (no boundary), ValueError (a boundary too long, absent from
the body, a body cut short, a bad part Content-Length) or BadHttpMessage (too many part
headers); each of them is the client's mistake.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from ..errors import BadRequest

READ_CHUNK = 1 << 16
_MALFORMED = "The multipart body is malformed (check its boundary)."
# C0 controls and DEL: a NUL in a file name would cut it short in the file system and in
# headers; no browser sends any of them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


async def parts(request: web.Request) -> AsyncIterator[BodyPartReader]:
    """Each part of a flat multipart/form-data body, its field and file names checked."""
    if request.content_type != "multipart/form-data":
        raise BadRequest("Send the file as multipart/form-data.")
    try:
        reader = await request.multipart()
    except (KeyError, ValueError):
        raise BadRequest("multipart/form-data needs a boundary of 1 to 70 characters.") from None
    while True:
        try:
            part = await reader.next()
            if part is None:
                return
            if not isinstance(part, BodyPartReader):
                raise BadRequest("Nested multipart bodies are not accepted.")
            names = (part.name or "", part.filename or "")
        except (KeyError, ValueError, HttpProcessingError):
            raise BadRequest(_MALFORMED) from None
        if any(_CONTROL.search(n) for n in names):
            raise BadRequest("Field and file names must not contain control characters.")
        yield part


async def chunks(part: BodyPartReader, size: int = READ_CHUNK) -> AsyncIterator[bytes]:
    """A part's content, as it arrives."""
    while True:
        try:
            chunk = await part.read_chunk(size)
        except ConnectionError:
            # The browser went away (tab closed, upload cancelled): not a server fault.
            raise BadRequest("The upload was cut off before its end.") from None
        except (ValueError, HttpProcessingError):
            raise BadRequest(_MALFORMED) from None
        if not chunk:
            return
        yield chunk
