-- Pychat schema version 6: deleted means deleted (issue 13).
-- Deleting or editing a message rewrites the earlier events that carried it (a redaction:
-- seq and kind stay, the payload takes the message's current content), so replay never
-- hands out the old text. This index finds a message's events without reading the log.

CREATE INDEX events_message ON events(json_extract(data, '$.message.id'))
    WHERE kind IN ('message.new', 'message.edit');

-- Messages deleted or edited before this version: redact their events now.
UPDATE events SET data = json_set(
        events.data,
        '$.message.body', m.body,
        '$.message.mentions', json((
            SELECT json_group_array(user_id)
            FROM (SELECT user_id FROM mentions WHERE message_id = m.id ORDER BY user_id)
        )),
        '$.message.mention_room', json(CASE WHEN m.mention_room THEN 'true' ELSE 'false' END),
        '$.message.edited_at', m.edited_at,
        '$.message.deleted', json('true'),
        '$.message.attachments', json('[]')
    )
    FROM messages m
    WHERE events.kind IN ('message.new', 'message.edit')
        AND json_extract(events.data, '$.message.id') = m.id
        AND m.deleted = 1;

UPDATE events SET data = json_set(
        events.data,
        '$.message.body', m.body,
        '$.message.mentions', json((
            SELECT json_group_array(user_id)
            FROM (SELECT user_id FROM mentions WHERE message_id = m.id ORDER BY user_id)
        )),
        '$.message.mention_room', json(CASE WHEN m.mention_room THEN 'true' ELSE 'false' END),
        '$.message.edited_at', m.edited_at
    )
    FROM messages m
    WHERE events.kind IN ('message.new', 'message.edit')
        AND json_extract(events.data, '$.message.id') = m.id
        AND m.deleted = 0 AND m.edited_at IS NOT NULL;

-- The search index keeps removed words until its segments are merged: merge them all once.
INSERT INTO messages_fts(messages_fts) VALUES ('optimize');
