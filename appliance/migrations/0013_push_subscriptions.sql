-- Pychat schema version 13: Web Push subscriptions, one per device that asked (issue 16).
-- A subscription belongs to the session that made it: signing out of that device (or the
-- session expiring) removes it, so a device nobody is signed in on is never notified.

CREATE TABLE push_subscriptions (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id      INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    endpoint        TEXT NOT NULL UNIQUE CHECK (length(endpoint) <= 1024),
    p256dh          BLOB NOT NULL CHECK (length(p256dh) = 65),
    auth            BLOB NOT NULL CHECK (length(auth) = 16),
    created_at      INTEGER NOT NULL,
    last_success_at INTEGER,
    -- Consecutive failures other than 404/410 and when the next send may be tried.
    failures        INTEGER NOT NULL DEFAULT 0,
    retry_at        INTEGER
) STRICT;
CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id, id);
CREATE INDEX push_subscriptions_session ON push_subscriptions(session_id);
