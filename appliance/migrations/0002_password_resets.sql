-- Pychat schema version 2: one-time password reset links made by an admin.
-- Only the token's SHA-256 is stored; a link works once, until `expires_at`.

CREATE TABLE password_resets (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX password_resets_user ON password_resets(user_id);
