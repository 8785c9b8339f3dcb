"""Sessions and invites across a step of the wall clock, on a real SQLite database.

The wall clock and the boot clock are the test's: it plays a Pi that starts at its image's
build date and is corrected by NTP months later (or whose clock was ahead and goes back).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.chat import accounts, admin, registration, setup
from appliance.chat import uploads as upload_service
from appliance.chat.accounts import DAY_MS
from appliance.clock.watch import ClockWatch
from appliance.config import load_settings
from appliance.db import SqliteDatabase, Tx
from appliance.errors import Forbidden
from appliance.hub import Hub
from appliance.state.services import Services
from appliance.storage import sessions, settings, uploads
from appliance.storage.uploads import NewUpload
from tests.unit.test_clock_watch import DAY, Clocks

PASSWORD = "admin-password"
BUILD_DATE = 1_760_000_000.0  # when the image was made: where a first boot's clock starts


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[tuple[Services, Clocks]]:
    conf = load_settings(
        tmp_path,
        environ={"PYCHAT_AUTH_SCRYPT_N": "1024"},
        overrides={"server.mode": "development", "discovery.mdns": "off"},
    )
    clocks = Clocks(BUILD_DATE)
    services = Services(
        settings=conf, db=SqliteDatabase(conf.db_path), hub=Hub(), clock=clocks.wall
    )
    services.clock_steps.watch = ClockWatch(clocks.wall, clocks.boot)
    await services.db.open()
    try:
        await setup.initialize(services, "Acme", "admin", PASSWORD)
        yield services, clocks
    finally:
        await services.db.close()


async def _login(svc: Services) -> str:
    token, _ = await accounts.login(svc, "admin", PASSWORD, "127.0.0.1", "test")
    return token


async def _expires_at(svc: Services, token: str) -> int:
    row = await sessions.lookup(svc.db, accounts.token_hash(token))
    assert row is not None
    return int(row["expires_at"])


async def test_a_session_survives_ntp_moving_the_clock_90_days_forward(
    svc: tuple[Services, Clocks],
) -> None:
    s, clocks = svc
    days = s.settings.auth.session_days
    early, late = await _login(s), await _login(s)
    clocks.run(10 * DAY)  # ten real days on the build date's clock: 20 days left
    clocks.wall_now += 90 * DAY  # NTP syncs
    assert await _expires_at(s, early) < s.now_ms()  # uncorrected, it would be over
    assert await s.clock_steps.settle() is not None  # the maintenance loop corrects first,
    await accounts.purge_expired_sessions(s)  # so its purge then finds nothing to delete
    assert await _expires_at(s, early) == s.now_ms() + (days - 10) * DAY_MS
    clocks.run((days - 10) * DAY - 60)
    assert await accounts.authenticate(s, early) is not None  # a minute before its end
    clocks.run(120)
    assert await accounts.authenticate(s, late) is None  # a minute after: over, as it should


async def test_a_session_used_right_after_the_step_is_corrected_before_it_is_judged(
    svc: tuple[Services, Clocks],
) -> None:
    """The request that comes before the maintenance loop's next look is not logged out."""
    s, clocks = svc
    token = await _login(s)
    clocks.run(1.0)
    clocks.wall_now += 90 * DAY
    session = await accounts.authenticate(s, token)
    assert session is not None
    assert s.clock_steps.last is not None and s.clock_steps.last.delta_s == 90 * DAY
    assert await s.clock_steps.settle() is None  # corrected once, not twice


async def test_a_session_made_after_the_step_is_not_moved_twice(
    svc: tuple[Services, Clocks],
) -> None:
    s, clocks = svc
    clocks.run(1.0)
    clocks.wall_now += 90 * DAY
    token = await _login(s)  # between the step and the next look: already the new clock
    clocks.run(1.0)
    assert await s.clock_steps.settle() is not None
    expected = s.now_ms() - 1000 + s.settings.auth.session_days * DAY_MS
    assert await _expires_at(s, token) == expected


async def test_a_clock_that_was_ahead_and_steps_back_ends_sessions_on_time(
    svc: tuple[Services, Clocks],
) -> None:
    s, clocks = svc
    days = s.settings.auth.session_days
    early, late = await _login(s), await _login(s)
    clocks.run(2.0)
    clocks.wall_now -= 200 * DAY  # a clock far ahead (an old saved time of a broken RTC)
    assert await s.clock_steps.settle() is not None
    clocks.run(days * DAY - 60)
    assert await accounts.authenticate(s, early) is not None
    clocks.run(120)
    # Uncorrected, this session would have lived 200 days more.
    assert await accounts.authenticate(s, late) is None


async def test_an_invite_keeps_its_real_lifetime(svc: tuple[Services, Clocks]) -> None:
    s, clocks = svc
    assert await settings.get(s.db, settings.REGISTRATION, "invite") == "invite"
    session = (await accounts.authenticate(s, await _login(s))) or pytest.fail("no session")
    week = await registration.create_invite(s, session.user_id, 5, 7 * 86400)
    clocks.run(3 * DAY)
    clocks.wall_now += 90 * DAY
    assert await s.clock_steps.settle() is not None
    clocks.run(4 * DAY - 60)  # 7 real days less a minute
    await registration.register(s, "bob", "bob-password", "Bob", week, "127.0.0.1", "test")
    clocks.run(120)
    with pytest.raises(Forbidden):
        await registration.register(s, "carol", "carol-password", "Carol", week, "127.0.0.1", "t")


async def test_an_unsent_upload_and_a_reset_link_keep_their_real_lifetime(
    svc: tuple[Services, Clocks],
) -> None:
    s, clocks = svc
    session = (await accounts.authenticate(s, await _login(s))) or pytest.fail("no session")
    actor = await admin.authorize(s, session)
    token, _ = await admin.create_reset_link(s, actor, session.user_id)
    new = NewUpload(
        session.user_id, "ab" * 32, "a.txt", 1, "text/plain", None, None, None, False, False
    )

    async def insert(tx: Tx) -> int:
        row, _ = await uploads.insert(tx, new, s.now_ms())
        return int(row["id"])

    upload_id = await s.db.write(insert)
    clocks.run(60.0)
    clocks.wall_now += 90 * DAY  # the step; the upload sweep happens to run first
    assert await upload_service.sweep_unattached(s) == 0
    assert await uploads.get(s.db, upload_id) is not None
    assert s.settings.uploads.unattached_ttl_s == 86400  # as long as the reset link
    clocks.run(DAY - 180)  # a day of real time less two minutes since both were made
    assert await upload_service.sweep_unattached(s) == 0
    await admin.reset_password(s, token, "a-new-password")  # the link still works
    clocks.run(180)
    assert await upload_service.sweep_unattached(s) == 1  # the upload's real time is up


async def test_rows_from_a_synchronised_boot_are_not_moved_by_the_next_boots_step(
    tmp_path: Path,
) -> None:
    """A Pi with internet, off for two weeks: it boots at its shutdown time and NTP steps it
    two weeks ahead. Sessions from before the shutdown were right and age through the
    downtime; one opened after the boot, on the stale clock, is moved."""
    conf = load_settings(tmp_path, environ={"PYCHAT_AUTH_SCRYPT_N": "1024"})
    clocks = Clocks(BUILD_DATE)

    async def boot() -> Services:
        s = Services(settings=conf, db=SqliteDatabase(conf.db_path), hub=Hub(), clock=clocks.wall)
        s.clock_steps.watch = ClockWatch(clocks.wall, clocks.boot)
        await s.db.open()
        await s.clock_steps.load()
        return s

    first = await boot()
    await setup.initialize(first, "Acme", "admin", PASSWORD)
    before_shutdown = await _login(first)
    clocks.run(2.0)
    assert await first.clock_steps.settle(synchronized=True) is None  # NTP vouches
    await first.clock_steps.save()  # the server stops
    await first.db.close()
    clocks.run(30.0)  # the device shuts down; fake-hwclock saves this time

    clocks.boot_now = 0.0  # two weeks off: the boot clock restarts at zero, and the wall
    clocks.run(20.0)  # clock at the saved time; the server starts 20 s into the boot
    second = await boot()
    try:
        expires_before = await _expires_at(second, before_shutdown)
        after_boot = await _login(second)  # on the clock restored from the shutdown time
        opened = second.now_ms()
        clocks.run(2.0)
        clocks.wall_now += 14 * DAY  # NTP syncs
        assert await second.clock_steps.settle() is not None
        assert await _expires_at(second, before_shutdown) == expires_before
        days = second.settings.auth.session_days
        assert await _expires_at(second, after_boot) == opened + 14 * DAY_MS + days * DAY_MS
    finally:
        await second.db.close()


async def test_after_a_power_cut_the_rows_of_the_new_boot_are_still_moved(
    tmp_path: Path,
) -> None:
    """fake-hwclock saves hourly: after a power cut the clock restarts up to an hour before
    the last time NTP vouched for. What the new boot writes is still on a stale clock."""
    conf = load_settings(tmp_path, environ={"PYCHAT_AUTH_SCRYPT_N": "1024"})
    clocks = Clocks(BUILD_DATE)
    first = Services(settings=conf, db=SqliteDatabase(conf.db_path), hub=Hub(), clock=clocks.wall)
    first.clock_steps.watch = ClockWatch(clocks.wall, clocks.boot)
    await first.db.open()
    await setup.initialize(first, "Acme", "admin", PASSWORD)
    clocks.run(3600.0)
    assert await first.clock_steps.settle(synchronized=True) is None
    await first.clock_steps.save()
    await first.db.close()  # the power goes; fake-hwclock last saved 30 minutes ago

    clocks.boot_now, clocks.wall_now = 20.0, clocks.wall_now - 1800 + 20
    second = Services(settings=conf, db=SqliteDatabase(conf.db_path), hub=Hub(), clock=clocks.wall)
    second.clock_steps.watch = ClockWatch(clocks.wall, clocks.boot)
    await second.db.open()
    try:
        await second.clock_steps.load()
        token = await _login(second)
        expires = await _expires_at(second, token)
        clocks.run(2.0)
        clocks.wall_now += 3 * DAY
        assert await second.clock_steps.settle() is not None
        assert await _expires_at(second, token) == expires + 3 * DAY_MS
    finally:
        await second.db.close()
