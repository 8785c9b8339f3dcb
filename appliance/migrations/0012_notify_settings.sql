-- Pychat schema version 12: notification settings kept on the server, the same on all of a
-- person's devices and for every channel that notifies (issue 16). The chat layer bounds
-- them (appliance/chat/notify_settings.py); the CHECKs keep a bad value out of the rule.

-- One row per person who changed anything; no row means the defaults of notify/policy.py.
CREATE TABLE notify_settings (
    user_id       INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    direct_level  TEXT NOT NULL DEFAULT 'all'
                  CHECK (direct_level IN ('all', 'mentions', 'nothing')),
    group_level   TEXT NOT NULL DEFAULT 'mentions'
                  CHECK (group_level IN ('all', 'mentions', 'nothing')),
    -- A JSON array of at most 20 strings of 1 to 40 characters.
    keywords      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(keywords)),
    -- Daily quiet hours, "HH:MM" in her time zone; both or neither.
    dnd_start     TEXT CHECK (dnd_start IS NULL OR dnd_start GLOB '[0-2][0-9]:[0-5][0-9]'),
    dnd_end       TEXT CHECK (dnd_end IS NULL OR dnd_end GLOB '[0-2][0-9]:[0-5][0-9]'),
    snoozed_until INTEGER,
    hide_text     INTEGER NOT NULL DEFAULT 0 CHECK (hide_text IN (0, 1)),
    CHECK ((dnd_start IS NULL) = (dnd_end IS NULL))
) STRICT;

-- A person's own setting for one room: a level other than her default, or muted until.
CREATE TABLE room_notify (
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    room_id     INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    level       TEXT CHECK (level IS NULL OR level IN ('all', 'mentions', 'nothing')),
    muted_until INTEGER,
    PRIMARY KEY (user_id, room_id)
) STRICT, WITHOUT ROWID;
