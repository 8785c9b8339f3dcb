"""The device name rule, in one place: the name becomes `<name>.local`, a DNS label that
mDNS announces and the certificate names."""

from __future__ import annotations

import re

LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
DEFAULT = "pychat"


def check_device_name(name: str) -> str:
    """The name in canonical form (lower case), or ValueError saying what is wrong."""
    candidate = name.strip().lower()
    if not LABEL.fullmatch(candidate):
        raise ValueError(
            "A device name is 1–63 characters of a-z, 0-9 and '-', not starting or ending with '-'."
        )
    return candidate
