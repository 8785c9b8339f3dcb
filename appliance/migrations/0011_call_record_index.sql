-- Pychat schema version 11: the call records alone, indexed (a tiny partial index), so that
-- on start the server finds a call it never saw end (a power cut, kill -9) without reading
-- every message (chat/call_records.py, close_interrupted).
CREATE INDEX messages_call_records ON messages(room_id, id) WHERE call IS NOT NULL;
