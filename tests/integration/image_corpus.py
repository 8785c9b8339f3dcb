"""A generated corpus of hostile images (tiny files declaring huge ones) and ordinary
photos, for the image tests and `bench/image_rss.py`."""

from __future__ import annotations

import functools
import io
import struct
import zlib

from PIL import ExifTags, Image


def jpeg_photo(size: tuple[int, int], orientation: int = 6) -> bytes:
    """A photo-like JPEG (noise, so it compresses like one) with a phone's EXIF."""
    w, h = size
    base = Image.effect_noise((w // 8, h // 8), 60).resize(size, Image.Resampling.BILINEAR)
    im = Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), base))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "PhoneCo"
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=85)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def png_bomb(mode: str, side: int) -> bytes:
    """A square PNG of zeros ("1": 1-bit grey, "RGBA": 8-bit RGBA) written straight out:
    Pillow would take seconds to encode what compresses a thousand to one."""
    depth, colour, row = {"1": (1, 0, (side + 7) // 8), "RGBA": (8, 6, side * 4)}[mode]
    header = struct.pack(">IIBBBBB", side, side, depth, colour, 0, 0, 0)
    packer = zlib.compressobj(9)
    rows = b"\0" * (row + 1)  # filter byte "none", then the row
    batch = max(1, (1 << 20) // len(rows))
    data = b"".join(packer.compress(rows * min(batch, side - y)) for y in range(0, side, batch))
    data += packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def truncated_jpeg(side: int, progressive: bool) -> bytes:
    """A small JPEG whose frame header (SOF) says side x side: its scan ends far too soon."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "gray").save(buf, "JPEG", progressive=progressive)
    data = bytearray(buf.getvalue())
    at = data.index(b"\xff\xc2" if progressive else b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def gif_huge_screen() -> bytes:
    """A 1x1 GIF whose logical screen says 65535 x 65535."""
    buf = io.BytesIO()
    Image.new("P", (1, 1)).save(buf, "GIF")
    data = bytearray(buf.getvalue())
    data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def gif_many_frames(size: tuple[int, int], frames: int) -> bytes:
    """An animation of `frames` frames that each draw one pixel (a few bytes each) on a
    `size` screen, with a comment (so it is re-saved without it): little to send, much
    to decode."""
    w, h = size
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", w, h, 0xF1, 0, 0))
    out += bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])  # 4 colours
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop for ever
    out += b"\x21\xfe\x09made here\x00"  # a comment
    for i in range(frames):
        x, y = (i * 37) % w, (i * 11) % h
        out += b"\x21\xf9\x04\x04" + struct.pack("<H", 4) + b"\x00\x00"  # 40 ms, keep
        out += b"\x2c" + struct.pack("<HHHHB", x, y, 1, 1, 0)
        code = 4 | (1 + i % 3) << 3 | 5 << 6  # LZW: clear, one pixel, end (3 bits each)
        out += b"\x02\x02" + struct.pack("<H", code) + b"\x00"
    return bytes(out + b"\x3b")


def webp_huge_canvas() -> bytes:
    """A 1x1 animated WebP whose canvas (VP8X) says 16384 x 16384."""
    buf = io.BytesIO()
    frames = [Image.new("RGB", (1, 1), c) for c in ("red", "blue")]
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    data = bytearray(buf.getvalue())
    at = data.index(b"VP8X") + 8 + 4  # chunk header, then 4 bytes of flags
    data[at : at + 6] = (16383).to_bytes(3, "little") * 2
    return bytes(data)
