-- Pychat schema version 9: calls leave a trace in the room's timeline (issue 15).
-- A call record is a message the server writes itself: `call` holds what happened as JSON
-- ({"id", "event": "started"|"ended"|"missed", "duration_ms"}); NULL for a person's message.
-- Its body stays empty, so it is never found by search and never mentions anyone.
ALTER TABLE messages ADD COLUMN call TEXT CHECK (call IS NULL OR json_valid(call));
