"""Typed application keys: every long-lived object the aiohttp Application holds, listed in one
place (no singletons, no module globals).

The value types are imported for the type checker only, so this module imports nothing of
the app at run time and any module may import it without closing a cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ..backup.usb import UsbBackups
    from ..clock.from_browsers import BrowserClock
    from ..discovery.announcer import Announcer
    from ..echo_bot.bot import EchoBot
    from ..logbuffer import LogBuffer
    from ..mail.service import MailService
    from ..push.service import WebPush
    from ..setup_wizard.claim import ClaimAttempts
    from ..setup_wizard.state import Wizards
    from ..setup_wizard.views import Templates
    from ..tls.device import DeviceTls
    from ..turn.builtin import TurnService
    from ..web.commands import Spec
    from ..web.https_redirect import OwnHosts
    from .services import Services

# What every action works with: settings, database, hub, limits, calls, the clock.
SERVICES: web.AppKey[Services] = web.AppKey("services")

# The server itself.
STARTED_AT: web.AppKey[float] = web.AppKey("started_at")
SERVED_STATIC_DIR: web.AppKey[Path] = web.AppKey("static_dir")
WS_COMMANDS: web.AppKey[dict[str, Spec]] = web.AppKey("ws_commands")
LOG_BUFFER: web.AppKey[LogBuffer] = web.AppKey("log_buffer")

# The device: HTTPS, its names and addresses, the root helper, backups, the clock.
DEVICE_TLS: web.AppKey[DeviceTls] = web.AppKey("device_tls")
HTTPS_PORT: web.AppKey[int] = web.AppKey("https_port")
OWN_HOSTS: web.AppKey[OwnHosts] = web.AppKey("own_hosts")
ANNOUNCER: web.AppKey[Announcer] = web.AppKey("mdns_announcer")
HELPER_SOCKET: web.AppKey[Path] = web.AppKey("helper_socket")
USB_BACKUPS: web.AppKey[UsbBackups] = web.AppKey("usb_backups")
BROWSER_CLOCK: web.AppKey[BrowserClock] = web.AppKey("browser_clock")

# Calls: the built-in TURN server and the test-call bot.
TURN: web.AppKey[TurnService] = web.AppKey("turn")
ECHO_BOT: web.AppKey[EchoBot] = web.AppKey("echo_bot")

# Email through the office's own mail server (issue 16).
MAIL: web.AppKey[MailService] = web.AppKey("mail")

# Web Push to people's devices, off unless the admin turns it on (issue 16).
WEB_PUSH: web.AppKey[WebPush] = web.AppKey("web_push")

# The first-boot wizard.
WIZARDS: web.AppKey[Wizards] = web.AppKey("setup_wizards")
WIZARD_TEMPLATES: web.AppKey[Templates] = web.AppKey("setup_templates")
CLAIM_ATTEMPTS: web.AppKey[ClaimAttempts] = web.AppKey("setup_claim_attempts")
