-- Pychat schema version 3: uploaded files (issue 5) and avatars.
-- A blob is one stored file, named by the SHA-256 of its bytes (<data>/files/ab/cdef...):
-- identical files are stored once. An upload is one person's sending of a blob, under the
-- name they gave it; it belongs to at most one message. A blob goes when no upload uses it.

CREATE TABLE blobs (
    hash       TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    has_thumb  INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE uploads (
    id          INTEGER PRIMARY KEY,
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
CREATE INDEX uploads_hash ON uploads(hash);
CREATE INDEX uploads_owner ON uploads(owner_id);
CREATE INDEX uploads_message ON uploads(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX uploads_unattached ON uploads(created_at) WHERE message_id IS NULL;

-- Avatars are small server-made WebP thumbnails named by their own hash.
ALTER TABLE users ADD COLUMN avatar_hash TEXT;
ALTER TABLE rooms ADD COLUMN avatar_hash TEXT;
