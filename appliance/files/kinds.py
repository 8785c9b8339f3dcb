"""What a file is, judged from its bytes; what it may be served as; its name made harmless.

The client's declared type is only a hint: a type from the safe list is kept when the
file's first bytes agree with it, anything else is `application/octet-stream` and is
served as a download. SVG and HTML are never on the list: they can run script.
"""

from __future__ import annotations

import mimetypes
import unicodedata
from urllib.parse import quote

OCTET_STREAM = "application/octet-stream"
MAX_NAME_CHARS = 200

# Types a browser may show inline, and what their first bytes look like.
_MEDIA_FAMILIES = {
    "webm": ("audio/webm", "video/webm"),
    "ogg": ("audio/ogg", "video/ogg"),
    "mp4": ("audio/mp4", "video/mp4"),
    "mpeg-audio": ("audio/mpeg",),
    "mpeg-video": ("video/mpeg",),
}
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
INLINE_TYPES = frozenset(
    {
        *IMAGE_TYPES.values(),
        *(t for family in _MEDIA_FAMILIES.values() for t in family),
        "application/pdf",
        "text/plain",
    }
)


def _family(head: bytes) -> str | None:
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"  # EBML: WebM and Matroska
    if head.startswith(b"OggS"):
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mpeg-audio"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "mpeg-video"
    if head.startswith(b"%PDF-"):
        return "pdf"
    return None


def image_format(head: bytes) -> str | None:
    """The image format the first bytes announce (Pillow then has the final word)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def declared_size(head: bytes) -> tuple[int, int] | None:
    """The width and height an image's header declares, read without decoding anything
    (a WebP's canvas: Pillow allocates it on open). None when the bytes do not say."""
    fmt = image_format(head)
    if fmt == "PNG" and head[12:16] == b"IHDR" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if fmt == "GIF" and len(head) >= 10:
        return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
    if fmt == "WEBP" and len(head) >= 30:
        chunk, data = head[12:16], head[20:30]
        if chunk == b"VP8X":
            return 1 + int.from_bytes(data[4:7], "little"), 1 + int.from_bytes(data[7:10], "little")
        if chunk == b"VP8L" and data[0] == 0x2F:
            bits = int.from_bytes(data[1:5], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        if chunk == b"VP8 " and data[3:6] == b"\x9d\x01\x2a":
            return (
                int.from_bytes(data[6:8], "little") & 0x3FFF,
                int.from_bytes(data[8:10], "little") & 0x3FFF,
            )
    if fmt == "JPEG":
        return _jpeg_size(head)
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(head) and head[at] == 0xFF:
        marker = head[at + 1]
        if marker == 0xFF:
            at += 1  # fill byte
            continue
        length = int.from_bytes(head[at + 2 : at + 4], "big")
        # SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC) carry the frame's size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(head[at + 5 : at + 7], "big")
            return int.from_bytes(head[at + 7 : at + 9], "big"), height
        at += 2 + length
    return None


def sniff(head: bytes, declared: str, name: str) -> str:
    """The type a non-image file is stored and served as (images: see images.py)."""
    hint = declared.split(";", 1)[0].strip().lower()
    if hint in ("", OCTET_STREAM):
        hint = (mimetypes.guess_type(name, strict=False)[0] or "").lower()
    family = _family(head)
    if family == "pdf":
        return "application/pdf"
    if family is not None:
        choices = _MEDIA_FAMILIES[family]
        # audio/webm and video/webm share a container: the hint decides, audio by default.
        return hint if hint in choices else choices[0]
    if hint == "text/plain" and b"\x00" not in head:
        return "text/plain"
    return OCTET_STREAM


def safe_name(raw: str | None) -> str:
    """A display name: the last path segment, no control characters, no leading dots."""
    text = unicodedata.normalize("NFC", raw or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    text = " ".join(text.split()).lstrip(".").strip()
    if len(text) > MAX_NAME_CHARS:
        _, dot, ext = text.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        text = text[: MAX_NAME_CHARS - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return text or "file"


# Served files are inert documents: no script, no plugins, no forms, their own origin.
SANDBOX_CSP = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"
)
# Browsers refuse to show a PDF in a sandboxed document (Chrome's viewer counts as a plugin,
# crbug.com/413851), so PDFs go without `sandbox`. Their script runs in the viewer's own
# isolated context, never with this origin; everything else stays 'none'.
PDF_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; object-src 'self'"


def serving_headers(mime: str, name: str) -> dict[str, str]:
    """Content-Type, Content-Disposition and the guards every user file gets."""
    inline = mime in INLINE_TYPES
    content_type = "text/plain; charset=utf-8" if mime == "text/plain" else mime
    disposition = "inline" if inline else "attachment"
    return {
        "Content-Type": content_type if inline else OCTET_STREAM,
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": PDF_CSP if mime == "application/pdf" else SANDBOX_CSP,
        "Cross-Origin-Resource-Policy": "same-origin",
        "Referrer-Policy": "no-referrer",
    }
