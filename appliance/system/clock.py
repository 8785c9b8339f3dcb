"""Is the system clock synchronised (by NTP)? Two ways to ask, for two places.

- The server asks systemd-timesyncd's flag file, `/run/systemd/timesync/synchronized`:
  timesyncd (the image's NTP client) creates it at its first successful sync of the boot
  and never removes it. The kernel's own answer (adjtimex) is out of the server's reach:
  its unit has `ProtectClock=yes`, whose seccomp filter refuses even a read-only
  adjtimex(2) call.
- The root helper asks the kernel: adjtimex(2) with no changes returns TIME_ERROR while
  the clock is unsynchronised (STA_UNSYNC: no NTP client has vouched for it since boot or
  since the clock was last set by hand). It is the last word before the helper sets the
  clock, whatever NTP client the machine runs.

Facts about the operating system's clock, not the server's handling of it (appliance/clock/):
pure standard library, so the root helper (appliance.privileged) may import it.
"""

from __future__ import annotations

from pathlib import Path

TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")
# This software did not exist before 2026: a clock earlier than this is certainly wrong
# (a Pi before NTP). Certificates are not issued on its word; no browser may set it earlier.
CLOCK_FLOOR_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TIME_ERROR = 5  # adjtimex(2): "the clock is not synchronized"


def timesyncd_synchronized(flag: Path = TIMESYNCD_FLAG) -> bool:
    """True once systemd-timesyncd has synced this boot (blocking: a stat on /run)."""
    return flag.exists()


def kernel_synchronized() -> bool | None:
    """The kernel's view (adjtimex, read only); None when it cannot be asked."""
    # Imported here: only the root helper asks, and the server need not load ctypes.
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the interpreter's own libc
        adjtimex = libc.adjtimex
    except (OSError, AttributeError):
        return None
    # struct timex is 208 bytes on 64-bit Linux; zeroed, its `modes` (0) asks for nothing
    # to change. Only the return value is read, so its layout does not matter here.
    buf = ctypes.create_string_buffer(512)
    state = int(adjtimex(buf))
    if state < 0:
        return None
    return state != TIME_ERROR
