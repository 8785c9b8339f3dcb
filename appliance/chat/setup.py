"""First-boot setup and the organisation's settings: `pychat init` and the wizard end here
(an admin changes the settings later: admin.update_org_settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..db import Tx
from ..discovery.device_name import check_device_name
from ..errors import BadRequest, Conflict
from ..storage import settings, users
from . import rooms
from .accounts import check_password, normalise_username

if TYPE_CHECKING:
    from ..state.services import Services


async def is_setup_done(svc: Services) -> bool:
    if not svc.setup_done:
        svc.setup_done = await settings.get(svc.db, settings.SETUP_DONE) == "1"
    return svc.setup_done


def clean_org_name(raw: str) -> str:
    org = " ".join(raw.split())
    if not 1 <= len(org) <= 64:
        raise BadRequest("The organisation name needs 1–64 characters.")
    return org


def clean_registration(raw: str) -> str:
    """Who may register: `invite`, `open` or `closed`."""
    if raw not in settings.REGISTRATION_POLICIES:
        raise BadRequest("registration must be invite, open or closed.")
    return raw


def clean_device_name(raw: str) -> str:
    """A DNS label: it becomes `<name>.local`."""
    try:
        return check_device_name(raw)
    except ValueError as e:
        raise BadRequest(str(e)) from None


@dataclass(frozen=True)
class SetupChoices:
    """Everything first-boot setup decides; `pychat init` and the wizard both end here."""

    org: str
    admin_username: str
    password_hash: str
    device_name: str = "pychat"
    registration: str = "invite"


async def initialize(svc: Services, org: str, admin_username: str, password: str) -> dict[str, Any]:
    """First-boot setup without the wizard (`pychat init`)."""
    org = clean_org_name(org)
    username = normalise_username(admin_username)
    check_password(password)
    password_hash = await svc.passwords.hash(password, svc.settings.auth.scrypt_n)
    return await complete_setup(svc, SetupChoices(org, username, password_hash))


async def complete_setup(svc: Services, choices: SetupChoices) -> dict[str, Any]:
    """Organisation, first admin, device name, policy and the default channel. Only once."""
    clean_registration(choices.registration)
    now = svc.now_ms()

    async def job(tx: Tx) -> dict[str, Any]:
        if await settings.get(tx, settings.SETUP_DONE) == "1":
            raise Conflict("This Pychat is already set up.")
        name = choices.admin_username
        row = await users.insert(tx, name, name, choices.password_hash, True, now)
        await settings.put(tx, settings.ORG_NAME, choices.org)
        await settings.put(tx, settings.REGISTRATION, choices.registration)
        await settings.put(tx, settings.DEVICE_NAME, choices.device_name)
        await settings.put(tx, settings.SETUP_DONE, "1")
        await rooms.create_general(tx, int(row["id"]), now)
        return users.to_api(row, online=False)

    user = await svc.db.write(job)
    svc.setup_done = True
    return user


async def get_org_settings(svc: Services) -> dict[str, Any]:
    return {
        "org_name": await settings.get(svc.db, settings.ORG_NAME, ""),
        "registration": await settings.get(svc.db, settings.REGISTRATION, "invite"),
        "device_name": await settings.get(svc.db, settings.DEVICE_NAME, "pychat"),
    }
