-- Pychat schema version 7: a system account is never a person (issue 15).
-- `system` marks accounts the appliance runs itself (Echo, the test-call bot): they are left
-- out of every directory, picker, count and admin action.
ALTER TABLE users ADD COLUMN system INTEGER NOT NULL DEFAULT 0;
UPDATE users SET system = 1
    WHERE id = (SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'echo_user_id');

-- A member closed this (direct) room in her sidebar while its newest timeline message was
-- `hidden_through` (0: none yet): it stays hidden until a newer message arrives, so nothing
-- has to be written per message to bring it back. NULL: shown.
ALTER TABLE members ADD COLUMN hidden_through INTEGER;
