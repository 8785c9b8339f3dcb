"""Strict checks of every argument a privileged command takes. Pure; no I/O.

Both sides run them: the client (so the admin page shows the message at once) and the
root helper (which trusts nothing it receives). Each error names the argument.
"""

from __future__ import annotations

import re

from ..system.clock import CLOCK_FLOOR_MS


class InvalidArgument(ValueError):
    """An argument a privileged command refuses; the message names it and is safe to show."""


# RFC 1123 label, lowercase only: it becomes the device's `<name>.local` and its hostname.
_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_RESERVED_HOSTNAMES = frozenset({"localhost", "local", "localdomain", "ip6-localhost"})

# ISO 3166-1 alpha-2, as in tzdata's iso3166.tab: the Wi-Fi regulatory domain.
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRIES = frozenset(_COUNTRY_CODES.split())

_HEX_PSK = re.compile(r"[0-9a-fA-F]{64}")

# The clock may be set between CLOCK_FLOOR_MS (2026-01-01: this software did not exist
# before) and 20 years later; a time outside is a mistake or an attack, not an office.
CLOCK_MIN_MS = CLOCK_FLOOR_MS
CLOCK_MAX_MS = 2_398_377_600_000  # 2046-01-01T00:00:00Z
_EPOCH_MS = re.compile(r"[1-9][0-9]{0,15}")


def hostname(value: str) -> str:
    """A single DNS label: 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'."""
    if not value:
        raise InvalidArgument("hostname: must not be empty")
    if len(value) > 63:
        raise InvalidArgument("hostname: must be at most 63 characters")
    if value != value.lower() and _HOSTNAME.fullmatch(value.lower()):
        raise InvalidArgument("hostname: must be lowercase")
    if not _HOSTNAME.fullmatch(value):
        raise InvalidArgument("hostname: only letters a-z, digits and '-', not at the start or end")
    if value.isdigit():
        raise InvalidArgument("hostname: must not be only digits")
    if value in _RESERVED_HOSTNAMES:
        raise InvalidArgument(f"hostname: {value!r} is reserved")
    return value


def country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code in capitals, e.g. DE, GB, US."""
    if value not in COUNTRIES:
        raise InvalidArgument("country: must be a two-letter ISO 3166 code in capitals, e.g. DE")
    return value


def ssid(value: str) -> str:
    """1 to 32 bytes of UTF-8 without control characters."""
    size = len(value.encode("utf-8", "surrogatepass"))
    if size == 0:
        raise InvalidArgument("ssid: must not be empty")
    if size > 32:
        raise InvalidArgument("ssid: must be at most 32 bytes")
    if any(_is_control(c) for c in value) or _has_surrogates(value):
        raise InvalidArgument("ssid: must not contain control characters")
    return value


def passphrase(value: str) -> str:
    """WPA2-Personal (IEEE 802.11i): 8 to 63 printable ASCII characters, or 64 hex digits."""
    if _HEX_PSK.fullmatch(value):
        return value
    if not 8 <= len(value) <= 63:
        raise InvalidArgument("passphrase: must be 8 to 63 characters (or 64 hex digits)")
    if not all(" " <= c <= "~" for c in value):
        raise InvalidArgument("passphrase: only printable ASCII characters are allowed")
    return value


def epoch_ms(value: str) -> int:
    """Milliseconds since 1970 (UTC), decimal digits only, from 2026 to 2046."""
    if not _EPOCH_MS.fullmatch(value):
        raise InvalidArgument("time: must be milliseconds since 1970 in decimal digits")
    ms = int(value)
    if not CLOCK_MIN_MS <= ms < CLOCK_MAX_MS:
        raise InvalidArgument("time: must be from 2026-01-01 to 2045-12-31 (UTC)")
    return ms


def _is_control(c: str) -> bool:
    code = ord(c)
    return code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029)


def _has_surrogates(value: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
