"""The admin area's device actions: its name, its addresses, its certificate and CA."""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..db import Tx
from ..discovery.addresses import lan_addresses  # zeroconf-free (names.py imports it)
from ..errors import AppError, BadRequest, Conflict
from ..privileged import client as helper
from ..privileged import validate
from ..privileged.validate import InvalidArgument
from ..storage import settings
from ..system.netif import interface_addresses
from ..tls.device import CertificateRejected, DeviceTls
from .admin import Admin
from .setup import clean_device_name

if TYPE_CHECKING:
    from ..discovery.announcer import Announcer  # zeroconf: loaded only where mDNS is on
    from ..state.services import Services

log = logging.getLogger(__name__)
NO_HTTPS = (
    "HTTPS is off: this server runs in development mode (server.mode), so it has no"
    " certificate to change."
)


@dataclass(frozen=True)
class Device:
    """What the device actions work with (from the app: DEVICE_TLS, the mDNS announcer)."""

    tls: DeviceTls
    announcer: Announcer | None = None
    helper_socket: Path = helper.SOCKET_PATH


def _local_addresses() -> list[str]:
    """This machine's LAN addresses (blocking: reads them over rtnetlink)."""
    v4, v6 = lan_addresses(interface_addresses())
    return [str(a) for a in (*v4, *v6)]


def _https_on(device: Device) -> bool:
    return device.tls.ca_fingerprint != ""


async def device_info(svc: Services, admin: Admin, device: Device) -> dict[str, Any]:
    name = await settings.get(svc.db, settings.DEVICE_NAME, "pychat")
    announcer = device.announcer
    announced = announcer.name if announcer is not None else None
    if announcer is not None and announced:
        addresses = list(announcer.addresses)
    else:
        addresses = await asyncio.to_thread(_local_addresses)
    https = _https_on(device)
    return {
        "name": name,
        "mdns": {"enabled": announcer is not None, "name": announced},
        "addresses": addresses,
        "https": https,
        "certificate": (await device.tls.info()).to_api() if https else None,
        "ca_url": "/ca.crt" if https else None,
        "trust_url": "/trust" if https else None,
    }


async def rename_device(
    svc: Services, admin: Admin, device: Device, raw_name: str
) -> dict[str, Any]:
    """A new device name (`<name>.local`): announced at once, the certificate follows."""
    name = clean_device_name(raw_name)
    current = await settings.get(svc.db, settings.DEVICE_NAME, "pychat")
    if name != current:
        announcer = device.announcer
        if announcer is not None and await announcer.name_in_use(name):
            raise Conflict(f"Another device on the network already answers to {name}.local.")
        if _https_on(device) and not device.tls.covers_name(name):
            # Never a silent new CA: every office device trusts this one. Ask first.
            raise Conflict(
                f"This device's certificate authority does not cover {name}.local. Make a new"
                " certificate authority first (every computer and phone must trust it again),"
                " then rename."
            )

        async def job(tx: Tx) -> None:
            await settings.put(tx, settings.DEVICE_NAME, name)

        await svc.db.write(job)
        if announcer is not None:
            await announcer.set_name(name)
        device.tls.wake()  # the renewal task issues a certificate for the new name
        log.info("admin %d renamed the device to %s", admin.user_id, name)
    found = await device_info(svc, admin, device)
    found["hostname"] = await _set_hostname(device, name)
    return found


async def _set_hostname(device: Device, name: str) -> dict[str, Any]:
    """Best effort: the system hostname follows the device name when the root helper is
    there (on the appliance); without it (development machines) the rename still stands."""
    try:
        await helper.call("set-hostname", [name], socket_path=device.helper_socket)
    except helper.HelperError as e:
        log.warning("the hostname was not changed to %s: %s", name, e.message)
        return {"name": name, "changed": False, "reason": e.code, "message": e.message}
    return {"name": name, "changed": True, "reason": None, "message": None}


# -- power and Wi-Fi, through the root helper (docs/operations.md) --------------------------

# HelperError codes → HTTP: a bad argument is the caller's; no helper is "unavailable";
# a refusal or a failed step is the helper's (a bad gateway, from the browser's view).
_HELPER_STATUS = {"invalid_argument": 400, "unavailable": 503}
_POWER_DELAY_S = 0.5  # lets the 202 reach the browser before the helper acts
_power_tasks: set[asyncio.Task[None]] = set()


def _api_error(e: helper.HelperError) -> AppError:
    status = _HELPER_STATUS.get(e.code, 502)
    known = ("invalid_argument", "unavailable", "forbidden", "failed")
    code = e.code if e.code in known else "failed"
    return AppError(e.message, code=code, status=status)


def _helper_present(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


async def power(svc: Services, admin: Admin, device: Device, action: str) -> dict[str, Any]:
    """`reboot` or `shutdown`: checked to be possible now, done just after the answer."""
    if action not in ("reboot", "shutdown"):
        raise BadRequest("Unknown action.")
    path = device.helper_socket
    present = await asyncio.to_thread(_helper_present, path)
    if not present:
        raise AppError(
            f"This device cannot {'restart' if action == 'reboot' else 'shut down'} from here:"
            f" the privileged helper is not installed or not running (no socket at {path}).",
            code="unavailable",
            status=503,
        )
    log.warning("admin %d asked the device to %s", admin.user_id, action)

    async def later() -> None:
        await asyncio.sleep(_POWER_DELAY_S)
        try:
            await helper.call(action, socket_path=path)
        except helper.HelperError as e:
            log.error("%s failed: %s: %s", action, e.code, e.message)

    task = asyncio.create_task(later())
    _power_tasks.add(task)
    task.add_done_callback(_power_tasks.discard)
    return {"action": action, "accepted": True}


async def set_wifi(
    svc: Services, admin: Admin, device: Device, country: str, ssid: str, passphrase: str
) -> dict[str, Any]:
    """Join a Wi-Fi network (WPA2-Personal). The passphrase goes to the helper on its
    stdin-like secret field; it is never logged nor echoed."""
    try:
        validate.country(country)
        validate.ssid(ssid)
        validate.passphrase(passphrase)
    except InvalidArgument as e:
        raise BadRequest(str(e), code="invalid_argument") from None
    try:
        await helper.call(
            "wifi", [country, ssid], secret=passphrase, socket_path=device.helper_socket
        )
    except helper.HelperError as e:
        raise _api_error(e) from None
    log.info("admin %d applied Wi-Fi settings: country %s, SSID %r", admin.user_id, country, ssid)
    return {"country": country, "ssid": ssid, "applied": True}


async def install_certificate(
    svc: Services,
    admin: Admin,
    device: Device,
    cert: bytes,
    key: bytes,
    also_names: Sequence[str] = (),
) -> dict[str, Any]:
    if not _https_on(device):
        raise Conflict(NO_HTTPS)
    try:
        info = await device.tls.install_custom(cert, key, also_names=also_names)
    except CertificateRejected as e:
        raise BadRequest(e.message) from None
    log.info("admin %d installed an uploaded certificate", admin.user_id)
    return info.to_api()


async def remove_certificate(svc: Services, admin: Admin, device: Device) -> dict[str, Any]:
    """Back to the device's own certificate."""
    if not _https_on(device):
        raise Conflict(NO_HTTPS)
    removed = await device.tls.remove_custom()
    if removed:
        log.info("admin %d removed the uploaded certificate", admin.user_id)
    return {"removed": removed, "certificate": (await device.tls.info()).to_api()}


async def regenerate_ca(svc: Services, admin: Admin, device: Device) -> dict[str, Any]:
    """A new CA: every office device must trust the new one (the old one stops working)."""
    if not _https_on(device):
        raise Conflict(NO_HTTPS)
    log.warning("admin %d asked for a new CA", admin.user_id)
    await device.tls.regenerate_ca()
    return (await device.tls.info()).to_api()
