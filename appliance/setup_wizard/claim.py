"""The one-time claim code that proves someone holds the device (docs/architecture.md).

It is made when the server starts on a data folder that is not set up, printed on the
console, written to `<data>/claim-code.txt` (mode 0400) and, when configured, to a second
file (the image's boot partition), and destroyed when setup finishes.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from pathlib import Path

from ..privileged.claim_format import ALPHABET, FILE_NAME, LENGTH, format_code, normalise
from ..ratelimit import FailureWindow
from ..system import durable

# Wrong codes an address may enter in a window, and all addresses together.
PER_ADDRESS, EVERYONE, WINDOW_S = 5, 30, 900


class ClaimAttempts:
    """Who may try a claim code now. An attempt counts before the code is checked, so
    parallel tries cannot pass the limits.

    Each address gets `PER_ADDRESS` wrong codes a window. All addresses together get
    `EVERYONE`, but that shared cap holds back only addresses that have already been
    wrong: an address with a clean slate always gets a try, so no host on the LAN can lock
    the owner out for longer than one window, while the code (27^8 values) stays out of
    reach of guessing.
    """

    def __init__(self, per_address: int = PER_ADDRESS, everyone: int = EVERYONE) -> None:
        self.per_address: FailureWindow[str] = FailureWindow(per_address, WINDOW_S)
        self.everyone: FailureWindow[str] = FailureWindow(everyone, WINDOW_S)

    def attempt(self, address: str, now: float) -> float:
        """0 when `address` may try now (then the try is counted), else seconds to wait."""
        wait = self.per_address.retry_after(address, now)
        if wait <= 0 and self.per_address.count(address, now) > 0:
            wait = self.everyone.retry_after("*", now)
        if wait > 0:
            return wait
        self.per_address.fail(address, now)
        self.everyone.fail("*", now)
        return 0.0

    def succeeded(self, address: str) -> None:
        self.per_address.forgive(address)
        self.everyone.forgive("*")


def claim_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def ensure_claim_code(data_dir: Path, copy: Path | None = None) -> str:
    """The current claim code, made (and written out) if there is none. Blocking."""
    path = claim_path(data_dir)
    if path.is_file():
        code = normalise(path.read_text(encoding="ascii"))
        if len(code) == LENGTH:
            _write_copy(copy, code)
            return code
    code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    data_dir.mkdir(parents=True, exist_ok=True)
    durable.write_file(path, (format_code(code) + "\n").encode("ascii"), mode=0o400)
    _write_copy(copy, code)
    return code


def _write_copy(copy: Path | None, code: str) -> None:
    if copy is None:
        return
    # The boot partition may be read-only or absent: the console shows the code too.
    with contextlib.suppress(OSError):
        copy.write_text(
            f"Pychat claim code: {format_code(code)}\n"
            "Type it into the setup page to prove you hold this device.\n",
            encoding="ascii",
        )


def check_claim_code(data_dir: Path, entered: str) -> bool:
    """Constant-time comparison with the stored code. Blocking (reads a file)."""
    path = claim_path(data_dir)
    try:
        stored = normalise(path.read_text(encoding="ascii"))
    except OSError:
        return False
    given = normalise(entered)[:64]
    return len(stored) == LENGTH and hmac.compare_digest(given.encode(), stored.encode())


def destroy_claim_code(data_dir: Path, copy: Path | None = None) -> None:
    for path in (claim_path(data_dir), copy):
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
