"""A person's time zone, as her browser reports it: an IANA name the zoneinfo database knows."""

from __future__ import annotations

import asyncio
import functools
import zoneinfo

from ..errors import BadRequest


@functools.cache
def _known() -> frozenset[str]:
    # Read once (it walks the tz database on disk), in a thread: never on the loop.
    return frozenset(zoneinfo.available_timezones())


async def clean_timezone(raw: str | None) -> str | None:
    """The name to store; None or "" forgets it. Unknown names are refused."""
    if raw is None or raw == "":
        return None
    if len(raw) > 64 or raw not in await asyncio.to_thread(_known):
        raise BadRequest("The time zone must be an IANA name such as Europe/Paris.")
    return raw
