"""How to trust the device's CA on each system: plain text steps, shown by `/trust` and by
the wizard's security step (one source, so the two never disagree).

`{file}` in a step is replaced by the download's file name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrustSteps:
    system: str
    steps: tuple[str, ...]


TRUST_STEPS: tuple[TrustSteps, ...] = (
    TrustSteps(
        "Windows",
        (
            "Download the certificate ({file}) and open it.",
            "Choose Install Certificate…, then Current User (or Local Machine for everyone"
            " on this PC).",
            "Choose Place all certificates in the following store, Browse…, and pick"
            " Trusted Root Certification Authorities.",
            "Finish, and answer Yes when Windows asks (check the fingerprint first)."
            " Edge, Chrome and Firefox then trust the device; restart the browser.",
        ),
    ),
    TrustSteps(
        "macOS",
        (
            "Download the certificate ({file}) and double-click it: Keychain Access adds it"
            " to the login keychain.",
            "In Keychain Access, double-click the Pychat certificate, open Trust, and set"
            " When using this certificate to Always Trust.",
            "Close the window and confirm with your password. Safari, Chrome and Edge then"
            " trust the device.",
        ),
    ),
    TrustSteps(
        "iPhone and iPad",
        (
            "Open this page in Safari, tap Download the certificate, and Allow.",
            "Open Settings › General › VPN & Device Management, tap the Pychat profile,"
            " then Install.",
            "Open Settings › General › About › Certificate Trust Settings and turn on full"
            " trust for the Pychat certificate.",
        ),
    ),
    TrustSteps(
        "Android",
        (
            "Download the certificate ({file}).",
            "Open Settings › Security › More security settings › Encryption & credentials ›"
            " Install a certificate › CA certificate (names vary by maker: search Settings"
            " for “CA certificate”).",
            "Choose Install anyway, pick the downloaded file, and confirm. Chrome then trusts"
            " the device.",
        ),
    ),
    TrustSteps(
        "Linux",
        (
            "Download the certificate ({file}).",
            "Chrome or Chromium: Settings › Privacy and security › Security › Manage"
            " certificates › Authorities (or Installed by you) › Import, pick the file and"
            " tick Trust this certificate for identifying websites.",
            "Firefox: Settings › Privacy & Security › Certificates › View Certificates ›"
            " Authorities › Import, and tick Trust this CA to identify websites.",
            "For the whole system (Debian, Ubuntu): sudo cp {file}"
            " /usr/local/share/ca-certificates/ && sudo update-ca-certificates",
        ),
    ),
    TrustSteps(
        "ChromeOS",
        (
            "Download the certificate ({file}).",
            "Open Settings › Privacy and security › Security › Manage certificates ›"
            " Authorities (or chrome://settings/certificates) and choose Import.",
            "Pick the file, tick Trust this certificate for identifying websites, and OK.",
        ),
    ),
)


def ca_file_name(device_name: str) -> str:
    """The download name of the CA certificate, e.g. `pychat-ca.crt`."""
    return f"{device_name or 'pychat'}-ca.crt"
