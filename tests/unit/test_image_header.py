"""The size an image declares, read from its first bytes without decoding: the cheap check
that refuses a bomb before a decode process starts."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import ExifTags, Image

from appliance.files.kinds import declared_size
from tests.integration.image_corpus import gif_huge_screen, webp_huge_canvas


def encoded(fmt: str, size: tuple[int, int], mode: str = "RGB", **save: Any) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, "red").save(buf, fmt, **save)
    return buf.getvalue()


def exif() -> Image.Exif:
    tags = Image.Exif()
    tags[ExifTags.Base.Make] = "PhoneCo" * 2000  # a big APP1 segment before the frame
    return tags


@pytest.mark.parametrize(
    "data",
    [
        encoded("PNG", (1234, 567)),
        encoded("GIF", (1234, 567)),
        encoded("JPEG", (1234, 567)),
        encoded("JPEG", (1234, 567), progressive=True, exif=exif()),
        encoded("WEBP", (1234, 567)),  # lossy: VP8
        encoded("WEBP", (1234, 567), lossless=True),  # VP8L
        encoded("WEBP", (1234, 567), mode="RGBA", exif=exif()),  # VP8X
    ],
)
def test_the_declared_size_is_the_size_pillow_reads(data: bytes) -> None:
    assert declared_size(data[: 256 << 10]) == Image.open(io.BytesIO(data)).size == (1234, 567)


def test_hostile_headers_declare_what_they_claim() -> None:
    assert declared_size(gif_huge_screen()) == (65535, 65535)
    assert declared_size(webp_huge_canvas()) == (16384, 16384)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"hello"])
def test_too_little_to_tell_is_none(data: bytes) -> None:
    assert declared_size(data) is None
