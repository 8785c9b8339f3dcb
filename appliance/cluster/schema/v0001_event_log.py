"""PostgreSQL schema version 1: the event log: its rows and the head row that orders commits."""

SQL = """
-- The event log on PostgreSQL: the same rows as SQLite's `events` (migration 0001 there).
-- `seq` is not a sequence: a value taken from one inside a transaction can commit after a
-- larger one, and a node that has read the larger would never read it. Positions come from
-- the one row of `event_log_head`, whose lock each writing transaction holds from its first
-- event to its commit, so commit order is seq order (docs/architecture.md).
CREATE TABLE events (
    seq        bigint PRIMARY KEY,
    kind       text NOT NULL,
    room_id    bigint,
    user_id    bigint,
    data       json NOT NULL,  -- json, not jsonb: the text stays as written, byte for byte
    created_at bigint NOT NULL
);

CREATE TABLE event_log_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq      bigint NOT NULL
);
INSERT INTO event_log_head(seq) VALUES (0);
"""
