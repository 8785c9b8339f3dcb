-- Pychat schema version 14: email through the office's own mail server (issue 16).
-- A person's address (she sets it herself; NULL: none) and her own opt-out of digests.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN email_digest INTEGER NOT NULL DEFAULT 1;
-- "Forgot password?" finds the accounts behind an address.
CREATE INDEX users_email ON users(email COLLATE NOCASE) WHERE email IS NOT NULL;

-- What each person's digests have covered: every message up to `message_id` was mailed
-- or judged not missed, so a restart never mails one twice.
CREATE TABLE mail_digest_marks (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL
) STRICT;
