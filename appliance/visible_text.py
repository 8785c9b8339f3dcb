"""Text other people see (display names, status lines) must show what it says.

Control characters garble the screen or logs, and the bidirectional overrides and isolates
(U+202A-202E, U+2066-2069) reorder what follows them, so "admin" can be written to look like
another name. Such text is refused with a clear 400 rather than silently changed.
"""

from __future__ import annotations

import unicodedata

from .errors import BadRequest

# Format characters that are part of ordinary writing: zero-width (non-)joiners in emoji
# sequences and Indic/Persian scripts, and the tag characters of subdivision flags.
_ALLOWED_FORMAT = frozenset({0x200C, 0x200D}) | frozenset(range(0xE0020, 0xE0080))
# Cc controls, Cf format characters (the bidi controls and the invisible ones), Cs lone
# surrogates (a JSON "\ud800"), Zl/Zp line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def hidden_character(text: str) -> str | None:
    """The first character that would not show as itself, as `U+XXXX`; None if none."""
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES and ord(char) not in _ALLOWED_FORMAT:
            return f"U+{ord(char):04X}"
    return None


def check_visible(text: str, what: str) -> None:
    """Raise a 400 naming `what` when `text` holds a control or text-direction character."""
    found = hidden_character(text)
    if found is not None:
        raise BadRequest(
            f"{what} may not contain control or text-direction characters (found {found})."
        )
