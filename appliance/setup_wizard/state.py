"""What the wizard has gathered so far, per browser, until setup completes.

Held in memory on purpose: nothing is written until the last step, so an abandoned wizard
leaves no half-made organisation behind (the claim code survives a restart; the answers
do not).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

COOKIE = "pychat_setup"
MAX_WIZARDS = 32
WIZARD_TTL_S = 3600.0


@dataclass
class WizardState:
    token: str
    created: float
    org: str = ""
    admin: str = ""
    password_hash: str = ""
    device_name: str = "pychat"
    certificate: str = "local"
    registration: str = "invite"
    completed: set[str] = field(default_factory=set)
    # Filled by the last step: shown on the "done" page.
    app_url: str = ""
    invite_url: str = ""


class Wizards:
    """Browsers that proved the claim code, by their cookie token."""

    def __init__(self) -> None:
        self._by_token: dict[str, WizardState] = {}

    def start(self, now: float | None = None) -> WizardState:
        now = time.time() if now is None else now
        self._expire(now)
        if len(self._by_token) >= MAX_WIZARDS:
            oldest = min(self._by_token.values(), key=lambda w: w.created)
            del self._by_token[oldest.token]
        state = WizardState(token=secrets.token_urlsafe(32), created=now)
        self._by_token[state.token] = state
        return state

    def get(self, token: str | None, now: float | None = None) -> WizardState | None:
        self._expire(time.time() if now is None else now)
        return self._by_token.get(token or "")

    def of_browser(self, cookies: Mapping[str, str]) -> WizardState | None:
        """The wizard of the browser that sent `cookies` (None: no claim code accepted yet).
        The cookie's name stays in here: the web layer asks without knowing it."""
        return self.get(cookies.get(COOKIE))

    def shift_clock(self, delta_s: float) -> None:
        """The wall clock stepped (clock/steps.py): each wizard keeps its real time left."""
        for state in self._by_token.values():
            state.created += delta_s

    def _expire(self, now: float) -> None:
        for token, state in list(self._by_token.items()):
            if now - state.created > WIZARD_TTL_S:
                del self._by_token[token]
