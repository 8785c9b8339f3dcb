"""Room for one more file: the per-user and total quotas and the disk reserve.

Checked before an upload starts (with its announced length), every so often while it
streams, and once more, exactly, in the write that records it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import UploadsSettings
from ..errors import AppError, InsufficientStorage, TooLarge


class QuotaExceeded(AppError):
    status, code = 413, "quota_exceeded"


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


@dataclass(frozen=True)
class Usage:
    user_bytes: int  # what this user's uploads add up to
    stored_bytes: int  # every stored blob, once each
    disk_free: int


def check_size(limits: UploadsSettings, size: int) -> None:
    if size > limits.max_bytes:
        raise TooLarge(
            f"A file may have at most {limits.max_bytes} bytes ({_mib(limits.max_bytes)})."
        )


def check_room(
    limits: UploadsSettings, usage: Usage, *, user_adding: int, stored_adding: int, disk_adding: int
) -> None:
    """Refuse a file that would pass a quota, or leave less free disk than the reserve.

    `stored_adding` is 0 for a file already stored (it is kept once); `disk_adding` is what
    is still to be written (0 once the file sits in a temp file).
    """
    check_size(limits, user_adding)
    quota = limits.user_quota_bytes
    if quota and usage.user_bytes + user_adding > quota:
        left = max(0, quota - usage.user_bytes)
        raise QuotaExceeded(
            f"Your files would use more than your quota of {_mib(quota)}"
            f" ({_mib(left)} left). Delete some messages with files to make room."
        )
    total = limits.total_quota_bytes
    if total and usage.stored_bytes + stored_adding > total:
        raise QuotaExceeded(
            f"The files of everyone together would pass this Pychat's limit of {_mib(total)}."
            " Ask an admin to make room."
        )
    if usage.disk_free - disk_adding < limits.disk_reserve_bytes:
        raise InsufficientStorage(
            "The appliance's storage is nearly full: this file would leave less than the"
            f" {_mib(limits.disk_reserve_bytes)} kept free for the database. Ask an admin"
            " to make room."
        )
