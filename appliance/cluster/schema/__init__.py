"""The PostgreSQL migrations, in order: one module each, its `SQL` applied in one transaction.

Python modules rather than .sql files: they ship with the code as it is, where data files
would have to be named in pyproject's package data, which also goes into the appliance's
image (whose boot test CI then runs) although the image never uses them.
"""

from . import v0001_event_log, v0002_chat

SCRIPTS: tuple[tuple[int, str], ...] = ((1, v0001_event_log.SQL), (2, v0002_chat.SQL))
