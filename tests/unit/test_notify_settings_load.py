"""Loading notification settings as the push and email senders do (load_settings,
load_many), on a real database migrated to the newest schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time
from pathlib import Path

import pytest

from appliance.db import SqliteDatabase, Tx
from appliance.notify.policy import NotifySettings, RoomNotify
from appliance.notify.settings import load_many, load_settings, to_api
from appliance.storage import notify_settings as stored


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    opened = SqliteDatabase(tmp_path / "pychat.db")
    await opened.open()

    async def people(tx: Tx) -> None:
        for uid in (1, 2, 3):
            await tx.execute(
                "INSERT INTO users(id, username, display_name, password_hash, created_at)"
                " VALUES (?, ?, '', 'x', 0)",
                (uid, f"user{uid}"),
            )
        await tx.execute("INSERT INTO rooms(id, kind, created_at) VALUES (7, 'channel', 0)")

    await opened.write(people)
    try:
        yield opened
    finally:
        await opened.close()


async def test_everyone_asked_for_gets_settings_the_defaults_unless_changed(
    db: SqliteDatabase,
) -> None:
    async def change(tx: Tx) -> None:
        await stored.put_person(
            tx,
            2,
            {
                "group_level": "all",
                "keywords": ["deploy"],
                "dnd_start": "22:00",
                "dnd_end": "07:00",
                "hide_text": True,
            },
        )
        await stored.put_room(tx, 2, 7, "nothing", None)
        await stored.put_room(tx, 3, 7, None, 5_000)

    await db.write(change)
    found = await load_many(db, [3, 2, 1, 2, 404])
    assert sorted(found) == [1, 2, 3, 404]
    assert found[1] == NotifySettings() and found[404] == NotifySettings()
    assert found[2] == NotifySettings(
        group_level="all",
        keywords=("deploy",),
        dnd_start=time(22, 0),
        dnd_end=time(7, 0),
        hide_text=True,
        rooms={7: RoomNotify(level="nothing")},
    )
    assert found[3].rooms == {7: RoomNotify(muted_until=5_000)}
    assert await load_settings(db, 2) == found[2]
    assert to_api(found[3])["rooms"] == {"7": {"room": 7, "level": None, "muted_until": 5_000}}

    # A room's row without a setting of its own is gone; so are a person's rows with her.
    async def clear(tx: Tx) -> None:
        await stored.put_room(tx, 3, 7, None, None)
        await tx.execute("DELETE FROM users WHERE id = 2")

    await db.write(clear)
    assert await load_many(db, [2, 3]) == {2: NotifySettings(), 3: NotifySettings()}
