"""Images with Pillow: size, a metadata-free copy to serve, thumbnails, avatars.

Everything here blocks: call it through `asyncio.to_thread`. The decoding itself runs in a
throwaway process with capped memory and time (decoder.py); the `_..._file` functions are
what runs there. Only the header is read before the pixel cap is checked, and thumbnails
are decoded at reduced scale where the format allows it (JPEG draft).

What is served:
- the original bytes as uploaded when they carry no metadata;
- otherwise a re-saved copy with the EXIF orientation applied and all EXIF, XMP, IPTC and
  comments (GPS position, camera serial, ...) left out. JPEGs are re-saved with their own
  quantisation tables, so the copy looks the same; animated GIF/WebP/PNG stay animated.
- thumbnails (≤ 800 px, WebP) are always made from the cleaned pixels and carry nothing.
"""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadRequest, TooLarge
from .decoder import Decoder, decoder
from .kinds import IMAGE_TYPES, declared_size

# Pillow is imported by the decode processes (their fork server preloads it), never by the
# server itself: the `_..._file` functions and their helpers import it where they run.
if TYPE_CHECKING:
    from PIL import Image

MAX_ANIMATION_PIXELS = 400_000_000  # all frames together
THUMB_PX = 800
AVATAR_PX = 256
HEADER_BYTES = 256 << 10  # where a JPEG's size is found after its EXIF and ICC segments
ANIMATED_THUMB_BYTES = 64 << 20  # decoded frames held at once for an animated thumbnail
# Image.info keys that describe pixels, not people or places; anything else is stripped.
HARMLESS_INFO = frozenset(
    {
        "dpi", "gamma", "transparency", "icc_profile", "srgb", "aspect", "chromaticity",
        "duration", "loop", "disposal", "blend", "default_image", "bbox", "background",
        "version", "extension", "interlace", "progression", "progressive", "jfif",
        "jfif_version", "jfif_unit", "jfif_density", "adobe", "adobe_transform",
        "lossless", "mode", "compression", "palette", "optimize", "transparency_index",
    }
)  # fmt: skip
KEEP_ON_RESAVE = ("icc_profile", "transparency", "dpi", "loop", "duration", "background")
ORIENTATION = 0x0112
TRANSPOSE = {  # EXIF orientation: the Image.Transpose that turns it upright
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}


@dataclass(frozen=True)
class ImageFacts:
    mime: str
    width: int
    height: int
    animated: bool
    cleaned: Path | None  # a copy to store instead of the upload (None: store as uploaded)
    thumb: Path | None  # a WebP thumbnail (None: the image is its own thumbnail)


class ImageTooLarge(TooLarge):
    pass


# Pillow's UnidentifiedImageError is an OSError.
_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, KeyError)


def examine(path: Path, work_dir: Path) -> ImageFacts | None:
    """Facts about an image file; None when Pillow does not recognise it as PNG, JPEG, GIF
    or WebP (it is then an ordinary file). An image that is recognised but cannot be
    decoded is refused: stored as it is, it could carry the metadata we promise to strip.
    So is one above the pixel cap (a 413 that says so), rather than kept as a plain file."""
    run = decoder()
    _check_header(path, run)
    cleaned = work_dir / secrets.token_hex(16)
    thumb = work_dir / secrets.token_hex(16)
    try:
        return run.run(_examine_file, path, cleaned, thumb, run.limits.max_pixels)
    except BaseException:
        cleaned.unlink(missing_ok=True)  # nothing half-made stays in the temp folder
        thumb.unlink(missing_ok=True)
        raise


def _check_header(path: Path, run: Decoder) -> None:
    """Refuse what declares too many pixels before a decode process is even started."""
    with path.open("rb") as f:
        size = declared_size(f.read(HEADER_BYTES))
    if size is not None and size[0] * size[1] > run.limits.max_pixels:
        raise _too_many_pixels(run.limits.max_pixels)


def _too_many_pixels(max_pixels: int) -> ImageTooLarge:
    return ImageTooLarge(f"An image may have at most {max_pixels:,} pixels.")


def _examine_file(path: Path, cleaned: Path, thumb: Path, max_pixels: int) -> ImageFacts | None:
    """In the decode process: examine(), cleaned copy and thumbnail written to the paths."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own bomb check as a backstop to ours
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(path)  # the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(max_pixels) from None
        except _UNREADABLE:
            return None
        try:
            with im:
                return _examine(im, cleaned, thumb, max_pixels)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(max_pixels) from None
        except OSError as e:
            if e.errno is not None:
                raise  # the disk, not the image (Pillow's decoding errors have no errno)
            raise DamagedImage("This image could not be read; it may be damaged.") from None
        except (SyntaxError, ValueError, EOFError, KeyError, IndexError):
            raise DamagedImage("This image could not be read; it may be damaged.") from None


class DamagedImage(BadRequest):
    pass


def _examine(im: Image.Image, cleaned: Path, thumb: Path, max_pixels: int) -> ImageFacts | None:
    from PIL import Image

    mime = IMAGE_TYPES.get(im.format or "")
    if mime is None:
        return None
    width, height = im.size
    if width * height > max_pixels:
        raise _too_many_pixels(max_pixels)
    frames = int(getattr(im, "n_frames", 1))
    animated = frames > 1
    if frames * width * height > MAX_ANIMATION_PIXELS:
        raise ImageTooLarge(
            f"An animation may have at most {MAX_ANIMATION_PIXELS:,} pixels in all its frames."
        )
    orientation = 1 if animated else int(im.getexif().get(ORIENTATION, 1))
    dirty = bool(set(im.info) - HARMLESS_INFO) or orientation != 1
    try:
        if not dirty:
            made = _thumbnail(im, thumb, animated)
            return ImageFacts(mime, width, height, animated, None, thumb if made else None)
        if animated:
            _resave_animation(im, cleaned)
            with Image.open(cleaned) as shown:
                made = _thumbnail(shown, thumb, animated)
            return ImageFacts(mime, width, height, animated, cleaned, thumb if made else None)
        upright = _resave(im, cleaned, orientation)
        width, height = upright.size
        made = _thumbnail(upright, thumb, animated)  # from the cleaned pixels, still in memory
        return ImageFacts(mime, width, height, animated, cleaned, thumb if made else None)
    except BaseException:
        cleaned.unlink(missing_ok=True)  # nothing half-made stays in the temp folder
        thumb.unlink(missing_ok=True)
        raise


def _resave_animation(im: Image.Image, target: Path) -> None:
    # Frames are re-encoded one by one; only what save() is given is written.
    fmt = im.format or "PNG"
    keep: dict[str, Any] = {
        k: im.info[k] for k in ("loop", "duration", "background") if k in im.info
    }
    for key in [k for k in im.info if k not in keep]:
        del im.info[key]  # some encoders copy what is left in info (a GIF's comment)
    empty = {"comment": b""} if fmt == "GIF" else {"exif": b"", "xmp": b""}
    im.save(target, format=fmt, save_all=True, **keep, **empty)


def _resave(im: Image.Image, target: Path, orientation: int) -> Image.Image:
    """Save the pixels, turned upright, without metadata; the upright image (full size)."""
    from PIL import Image, JpegImagePlugin

    fmt = im.format or "PNG"
    options: dict[str, Any] = {}
    if fmt == "JPEG":
        options = {
            "qtables": getattr(im, "quantization", None) or None,
            "subsampling": JpegImagePlugin.get_sampling(im),
        }
        if options["subsampling"] == -1:
            options.pop("subsampling")
        if options["qtables"] is None:
            options = {"quality": 92}
    elif fmt == "WEBP":
        options = {"quality": 90}
    info: dict[str | tuple[int, int], Any] = {
        k: v for k, v in im.info.items() if k in KEEP_ON_RESAVE
    }
    method = TRANSPOSE.get(orientation)
    if method is None:
        upright = im
    else:
        im.load()
        upright = im.transpose(Image.Transpose[method])
        im.close()  # one full-size copy in memory at a time, not two
    upright.info = info
    for key in ("icc_profile", "transparency", "dpi"):
        if key in info:
            options[key] = info[key]
    upright.save(target, format=fmt, **options)
    return upright


def _thumbnail(im: Image.Image, target: Path, animated: bool) -> bool:
    """Write a thumbnail to `target`; False when the image serves as its own."""
    from PIL import Image, ImageSequence

    width, height = im.size
    if animated:
        if max(width, height) <= THUMB_PX:
            return False  # small animations are their own thumbnail, and stay animated
        scale = THUMB_PX / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frames_bytes = size[0] * size[1] * 4 * int(getattr(im, "n_frames", 1))
        if frames_bytes <= ANIMATED_THUMB_BYTES:
            frames, durations = [], []
            for frame in ImageSequence.Iterator(im):
                durations.append(int(frame.info.get("duration", 100)) or 100)
                frames.append(frame.convert("RGBA").resize(size, Image.Resampling.BILINEAR))
            frames[0].save(
                target,
                "WEBP",
                save_all=True,
                append_images=frames[1:],
                duration=durations,
                loop=0,
                quality=75,
            )
            return True
        im.seek(0)  # too many frames to hold: a still of the first one
    if im.format == "JPEG":
        im.draft("RGB", (THUMB_PX * 2, THUMB_PX * 2))  # decode at 1/2..1/8 scale
    # In place: this process ends after, and a copy would double the full-size pixels.
    im.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS, reducing_gap=3.0)
    _rgb(im).save(target, "WEBP", quality=80)
    return True


def _rgb(im: Image.Image) -> Image.Image:
    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    return im.convert("RGBA" if has_alpha else "RGB")


def make_avatar(path: Path, target: Path) -> None:
    """A square 256 px WebP of an image (the browser cropped it; we crop the centre again)."""
    run = decoder()
    _check_header(path, run)
    try:
        run.run(_avatar_file, path, target, run.limits.max_pixels)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _avatar_file(path: Path, target: Path, max_pixels: int) -> None:
    """In the decode process: make_avatar()."""
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                if im.format not in IMAGE_TYPES:
                    raise NotAnImage
                if im.size[0] * im.size[1] > max_pixels:
                    raise _too_many_pixels(max_pixels)
                im.seek(0)
                if im.format == "JPEG":
                    im.draft("RGB", (AVATAR_PX * 2, AVATAR_PX * 2))  # decode at reduced scale
                upright = ImageOps.exif_transpose(im) or im
                square = ImageOps.fit(
                    _rgb(upright), (AVATAR_PX, AVATAR_PX), Image.Resampling.LANCZOS
                )
                square.save(target, "WEBP", quality=85)
        except ImageTooLarge:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(max_pixels) from None
        except _UNREADABLE:
            raise NotAnImage from None


class NotAnImage(Exception):
    pass
