-- Pychat schema version 8: a mention in a thread is cleared by seeing the thread (issue 15).
-- Each member has a read marker per thread (the newest reply seen); a reply that mentions
-- them counts in the room's `mentions` until that marker passes it.

CREATE TABLE thread_reads (
    root_id    INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (root_id, user_id)
) STRICT, WITHOUT ROWID;

-- Before this version the room's marker cleared thread mentions: keep what was cleared so.
INSERT INTO thread_reads(root_id, user_id, message_id)
SELECT m.thread_id, rm.user_id, max(rm.message_id)
FROM messages m
JOIN read_markers rm ON rm.room_id = m.room_id
WHERE m.thread_id IS NOT NULL AND m.id <= rm.message_id
  AND (m.mention_room = 1
       OR EXISTS (SELECT 1 FROM mentions x WHERE x.message_id = m.id AND x.user_id = rm.user_id))
GROUP BY m.thread_id, rm.user_id;

-- Counting `@room` replies per room without reading every reply of the device.
CREATE INDEX messages_room_replies ON messages(room_id, id)
    WHERE thread_id IS NOT NULL AND mention_room = 1;
