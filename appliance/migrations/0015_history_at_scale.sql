-- Pychat schema version 15: history at a million messages (issue 17, bench/history.py).
-- Search: every searched word is a prefix ("deplo" finds "deployment"). Without a prefix
-- index FTS5 gathers every posting of every word that starts so before the first result
-- (1-16 s for "ba" or "the" at a million messages); with prefixes of 1, 2 and 3 letters
-- indexed too, a query reads its newest matches lazily and stops at the page's end
-- (< 20 ms). Longer prefixes match few words, so they are cheap without. The index keeps
-- no word positions (detail=none: search asks only "which messages have these words"), which
-- pays for the prefixes: it stays about the size it was (~48 bytes a message), and so does
-- the merge that purges deleted text (chat/redaction.py), whose cost follows that size.
-- Same table name, content, tokenizer and triggers.

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2',
    prefix='1 2 3', detail='none'
);
-- Deleted messages and call records have an empty body: they index nothing, as before.
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;

-- Counting a room's unread messages reads the timeline index alone: it now holds what the
-- count tests (author, deleted; thread_id, always NULL here, lets SQLite see that the index
-- covers the query). A member far behind in a big room no longer costs a table read per
-- message. The same name, so paging keeps using it.
DROP INDEX messages_timeline;
CREATE INDEX messages_timeline ON messages(room_id, id, author_id, deleted, mention_room, thread_id)
    WHERE thread_id IS NULL;

-- `@room` in the timeline, found without reading every message after the marker (as
-- messages_room_replies does for thread replies).
CREATE INDEX messages_timeline_room_mentions ON messages(room_id, id)
    WHERE thread_id IS NULL AND mention_room = 1;
