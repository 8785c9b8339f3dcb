-- Pychat schema version 5: a direct conversation may be switched to peer-to-peer.
-- Its messages then travel between the participants' browsers over WebRTC data channels
-- and are stored only there; the server keeps this switch and nothing of what is said.

ALTER TABLE rooms ADD COLUMN p2p INTEGER NOT NULL DEFAULT 0 CHECK (p2p IN (0, 1));
