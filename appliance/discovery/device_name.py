"""The device name rule, in one place: the name becomes `<name>.local`, a DNS label that
mDNS announces and the certificate names, and the system hostname the root helper sets.
The helper's rule (privileged/validate.py) is the rule: a name it would refuse is refused
here too, so the admin hears it at once instead of the rename half-happening."""

from __future__ import annotations

import socket

from ..privileged.validate import InvalidArgument, hostname

DEFAULT = "pychat"
# After a rename the old name is still answered (mDNS) and named by the certificate this
# long: links handed out a moment before (the wizard's done page, a bookmark being made,
# a browser's cached address) keep working while people move to the new name.
RENAME_GRACE_S = 600.0
_RULE = (
    "A device name is 1–63 characters of a-z, 0-9 and '-', not starting or ending with '-',"
    " not only digits, and not a reserved name such as localhost."
)


def check_device_name(name: str) -> str:
    """The name in canonical form (lower case), or ValueError saying what is wrong."""
    candidate = name.strip().lower()
    try:
        return hostname(candidate)
    except InvalidArgument:
        raise ValueError(_RULE) from None


def default_name(source: str) -> str:
    """The name before setup gives one (`discovery.name_before_setup`). `hostname`, as the
    appliance runs: the image sets it from pychat.txt's `device_name=` before the first boot
    (its own is `pychat`), so the device answers to the name the admin wrote, and the
    console banner (which reads the announced name) agrees. `pychat`, and for a hostname
    that is no device name: `pychat`."""
    if source != "hostname":
        return DEFAULT
    try:
        return check_device_name(socket.gethostname().split(".")[0])
    except ValueError:
        return DEFAULT
