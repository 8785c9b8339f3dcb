"""A reply made of a message encoded once (`wire.Encoded`, as `message.send` answers) is
byte for byte the reply encoded from the plain object, whatever the text holds."""

from __future__ import annotations

import json

from appliance import wire


def test_an_encoded_message_replies_as_the_plain_object_would() -> None:
    message = {
        "id": 7,
        "body": 'quotes " and \\ backslash, new\nline, emoji 😀, </script>, \u2028',
        "mentions": [2, 3],
        "reactions": {},
        "thread": None,
        "deleted": False,
    }
    encoded = wire.Encoded(message, wire.dumps(message))
    for req in ("r1", None, 'odd "req"'):
        spliced = wire.reply_ok(req, {"message": encoded})
        assert spliced == wire.reply_ok(req, {"message": dict(message)})
        assert json.loads(spliced)["data"]["message"] == message
    # Anything else in the reply: encoded as a whole, still right.
    both = json.loads(wire.reply_ok("r", {"message": encoded, "extra": 1}))
    assert both["data"] == {"message": message, "extra": 1}
