"""A message just sent is encoded by hand on the hot path (storage/messages.new_message):
its object and its JSON must stay exactly what the general encoder makes of the stored row,
for every kind of text a person may send."""

from __future__ import annotations

import json
import sqlite3

import pytest

from appliance import wire
from appliance.storage import messages

BODIES = [
    "hello",
    'quotes " and \\ backslashes \\" and /slashes/',
    "new\nlines\tand\rcontrol \x01 \x1f characters",
    "émoji 😀 and 中文 and ‮right-to-left‬ and \u2028 separators \u2029",
    "@bob @room mentions",
    "",
]


def stored_row(**values: object) -> sqlite3.Row:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    names = ", ".join(f":{k} AS {k}" for k in values)
    row: sqlite3.Row = conn.execute(f"SELECT {names}", values).fetchone()
    return row


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize(
    ("thread", "client_id", "mentions", "mention_room"),
    [(None, None, [], False), (7, "c-1 ~!\"'<>", [3, 12], True)],
)
def test_a_new_message_encodes_as_the_general_encoder_would(
    body: str, thread: int | None, client_id: str | None, mentions: list[int], mention_room: bool
) -> None:
    fast = messages.new_message(
        41, 2, 3, thread, body, client_id, 1700000000123, mentions, mention_room
    )
    row = stored_row(
        id=41,
        room_id=2,
        author_id=3,
        thread_id=thread,
        body=body,
        client_id=client_id,
        created_at=1700000000123,
        edited_at=None,
        deleted=0,
        mention_room=int(mention_room),
        call=None,
    )
    general = messages.to_api(row, reactions={}, mentions=mentions)

    assert dict(fast) == general
    assert fast.json == wire.dumps(general)
    assert json.loads(fast.json) == general
