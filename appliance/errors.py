"""The errors a client may see: one envelope, `{"error": {"code", "message"}}`."""

from __future__ import annotations

import errno
from typing import Any


class AppError(Exception):
    """An error that is the client's to know about; its message is safe to show."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(AppError):
    status, code = 400, "bad_request"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class TooLarge(AppError):
    status, code = 413, "too_large"


class RateLimited(AppError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float = 1.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SetupRequired(AppError):
    status, code = 503, "setup_required"


class Unavailable(AppError):
    """A part the server needs (on several nodes: Redis) does not answer; try again."""

    status, code = 503, "unavailable"


class InsufficientStorage(AppError):
    status, code = 507, "insufficient_storage"


# SQLite's "database or disk is full", and the two ways the kernel says the same.
_SQLITE_FULL = 13
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_full(error: BaseException) -> InsufficientStorage | None:
    """The client's view of a write that failed for want of space, or None. Looks through
    the exception's causes: a full disk often surfaces wrapped in another error."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "sqlite_errorcode", None)
        if (isinstance(code, int) and code & 0xFF == _SQLITE_FULL) or (
            isinstance(current, OSError) and current.errno in _FULL_ERRNOS
        ):
            return InsufficientStorage(
                "The device's storage is full: nothing new can be saved until an admin frees"
                " space. Reading still works."
            )
        current = current.__cause__ or current.__context__
    return None


def internal_error_body() -> dict[str, Any]:
    """What a client sees of a bug: a generic sentence, never the exception text."""
    return {"error": {"code": "internal_error", "message": "Something went wrong on the server."}}
