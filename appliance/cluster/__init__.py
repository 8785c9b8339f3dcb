"""Several Pychat nodes on PostgreSQL and Redis (docs/scaling.md, docs/architecture.md).

What is here so far: the PostgreSQL event log whose positions follow commit order
(`event_log`), the follower that delivers a node the log in order and catches up after
anything it missed (`follower`), and the Redis bus that only wakes followers (`bus`). The
rest of the storage still runs on SQLite only.
"""
