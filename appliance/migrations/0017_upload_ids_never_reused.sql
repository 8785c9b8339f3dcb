-- Upload ids are never given out twice (issue 19). Without AUTOINCREMENT SQLite hands the
-- highest rowid out again once its row is gone, so the link of a deleted message's newest
-- file served the next upload, anyone's. SQLite cannot add AUTOINCREMENT to a table, so the
-- table is copied into one that has it; the counter starts at the highest id kept.
CREATE TABLE uploads_numbered (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id    INTEGER NOT NULL REFERENCES users(id),
    hash        TEXT NOT NULL REFERENCES blobs(hash),
    name        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mime        TEXT NOT NULL,
    width       INTEGER,
    height      INTEGER,
    duration_ms INTEGER,
    animated    INTEGER NOT NULL DEFAULT 0,
    message_id  INTEGER REFERENCES messages(id),
    created_at  INTEGER NOT NULL
) STRICT;
INSERT INTO uploads_numbered
    (id, owner_id, hash, name, size, mime, width, height, duration_ms, animated, message_id,
     created_at)
SELECT id, owner_id, hash, name, size, mime, width, height, duration_ms, animated, message_id,
       created_at
FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_numbered RENAME TO uploads;
CREATE INDEX uploads_hash ON uploads(hash);
CREATE INDEX uploads_owner ON uploads(owner_id);
CREATE INDEX uploads_message ON uploads(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX uploads_unattached ON uploads(created_at) WHERE message_id IS NULL;
