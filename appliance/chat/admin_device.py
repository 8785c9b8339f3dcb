"""The admin area's device actions: its name, its addresses, its certificate and CA."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..db import Tx
from ..discovery import Announcer
from ..discovery_names import lan_addresses
from ..errors import BadRequest, Conflict
from ..netif import interface_addresses
from ..storage import settings
from ..tls import CertificateRejected, DeviceTls
from .admin import Admin
from .services import Services
from .setup import clean_device_name

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

        async def job(tx: Tx) -> None:
            await settings.put(tx, settings.DEVICE_NAME, name)

        await svc.db.write(job)
        if announcer is not None:
            await announcer.set_name(name)
        device.tls.wake()  # the renewal task issues a certificate for the new name
        log.info("admin %d renamed the device to %s", admin.user_id, name)
    return await device_info(svc, admin, device)


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
