"""The claim code's shape, shared by the server that makes it (setup_wizard/claim.py) and
the root helper that copies it to the boot partition (claimcopy.py): the helper imports
nothing of the server, so the format lives on its side."""

from __future__ import annotations

# No 0/O, 1/I/L, 5/S or 2/Z look-alikes: easy to read aloud and to type from a screen.
ALPHABET = "346789ABCDEFGHJKMNPQRTUVWXY"
LENGTH = 8
FILE_NAME = "claim-code.txt"


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def normalise(entered: str) -> str:
    return "".join(c for c in entered.upper() if c.isalnum())
