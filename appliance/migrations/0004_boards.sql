-- The painter's boards (issue 7): one per room, a compact list of drawing operations.
-- Board ops are not chat events: they have their own per-board `seq` and never enter the
-- event log or message replay.

CREATE TABLE boards (
    room_id    INTEGER PRIMARY KEY REFERENCES rooms(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,  -- the last op's number, kept when folding drops that op
    updated_at INTEGER NOT NULL
) STRICT;

-- `op` is the op as JSON without its seq; folding deletes rows that no longer show.
CREATE TABLE board_ops (
    room_id INTEGER NOT NULL REFERENCES boards(room_id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    op_id   TEXT NOT NULL,
    author  INTEGER NOT NULL REFERENCES users(id),
    op      TEXT NOT NULL,
    PRIMARY KEY (room_id, seq)
) STRICT;
CREATE UNIQUE INDEX board_ops_op_id ON board_ops(room_id, op_id);
