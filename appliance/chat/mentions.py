"""Finding `@username` and `@room` in a message body (outside code)."""

from __future__ import annotations

import re

_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)
_MENTION = re.compile(r"(?<![\w.@/])@([A-Za-z0-9._-]{2,32})")
ROOM_WORDS = frozenset({"room", "channel", "here", "everyone"})


def parse(body: str) -> tuple[set[str], bool]:
    """Lower-cased usernames mentioned, and whether the whole room is mentioned."""
    text = _CODE.sub(" ", body)
    names = {m.group(1).rstrip(".-").lower() for m in _MENTION.finditer(text)}
    whole_room = bool(names & ROOM_WORDS)
    return {n for n in names if n not in ROOM_WORDS and len(n) >= 2}, whole_room
