"""Appliance-wide settings kept in the database: organisation, registration policy, the
Echo account."""

from __future__ import annotations

from ..db import Tx
from . import Reader

SETUP_DONE = "setup_done"
ORG_NAME = "org_name"
REGISTRATION = "registration"
DEVICE_NAME = "device_name"
# The account the test-call bot answers as (echo_bot/account.py); room limits skip it.
ECHO_USER = "echo_user_id"
# Web Push (push/service.py): "1" once the admin turned it on; off by default.
PUSH_ENABLED = "push_enabled"
REGISTRATION_POLICIES = ("invite", "open", "closed")


async def get(db: Reader, key: str, default: str | None = None) -> str | None:
    row = await db.fetchone("SELECT value FROM settings WHERE key = ?", (key,))
    return default if row is None else str(row[0])


async def put(tx: Tx, key: str, value: str) -> None:
    await tx.execute(
        "INSERT INTO settings(key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
