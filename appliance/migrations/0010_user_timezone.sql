-- Pychat schema version 10: a person's time zone, so others see her local time (issue 15).
-- An IANA name ("Europe/Paris") the browser reports, checked against the zoneinfo database;
-- NULL until her browser has said.
ALTER TABLE users ADD COLUMN timezone TEXT;
