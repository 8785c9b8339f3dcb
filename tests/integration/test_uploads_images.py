"""Images: dimensions, EXIF orientation applied and location stripped, animations kept,
thumbnails, and images too big to decode refused."""

from __future__ import annotations

import io

from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo

from tests.conftest import UserFactory
from tests.integration.uploading import fetch, send_upload, temp_files, upload
from tests.server import Server

GPS = ExifTags.IFD.GPSInfo


def phone_photo() -> bytes:
    """A 300x200 JPEG stored sideways (orientation 6) with a GPS position and a camera."""
    im = Image.new("RGB", (300, 200), "red")
    im.paste((0, 0, 255), (150, 0, 300, 200))  # left half red, right half blue
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCo"
    gps = exif.get_ifd(GPS)
    gps.update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 0.0)})
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=90)
    return buf.getvalue()


def near(pixel: tuple[int, ...], color: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel[:3], color, strict=True))


async def test_orientation_is_applied_and_location_stripped(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    original = phone_photo()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS)  # the test photo has GPS
    sent = await upload(alice, original, name="IMG_0001.jpg", content_type="image/jpeg")
    # Shown upright: the sideways 300×200 photo is 200 wide and 300 tall.
    assert (sent["width"], sent["height"]) == (200, 300)
    assert sent["mime"] == "image/jpeg" and sent["animated"] is False

    status, body, headers = await fetch(alice, sent["url"])
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    served = Image.open(io.BytesIO(body))
    assert served.size == (200, 300)
    assert dict(served.getexif()) == {}  # no GPS, no camera, no orientation left
    assert b"PhoneCo" not in body and "exif" not in served.info
    # Rotated clockwise: what was the left (red) is now the top.
    assert near(served.getpixel((100, 20)), (255, 0, 0))
    assert near(served.getpixel((100, 280)), (0, 0, 255))
    assert sent["size"] == len(body)

    status, thumb, headers = await fetch(alice, sent["thumb_url"])
    assert status == 200 and headers["Content-Type"] == "image/webp"
    small = Image.open(io.BytesIO(thumb))
    assert small.format == "WEBP" and small.size == (200, 300)
    assert dict(small.getexif()) == {} and b"PhoneCo" not in thumb


async def test_png_text_and_xmp_are_stripped(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    info = PngInfo()
    info.add_text("Comment", "taken at 12 Secret Street")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>GPSLatitude 52,31</x:xmpmeta>")
    buf = io.BytesIO()
    Image.new("RGBA", (40, 30), (0, 255, 0, 128)).save(buf, "PNG", pnginfo=info)
    sent = await upload(alice, buf.getvalue(), name="shot.png", content_type="image/png")
    _, body, _ = await fetch(alice, sent["url"])
    assert b"Secret Street" not in body and b"GPSLatitude" not in body
    served = Image.open(io.BytesIO(body))
    assert served.mode == "RGBA" and served.getpixel((5, 5)) == (0, 255, 0, 128)


async def test_an_image_without_metadata_is_stored_as_uploaded(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    buf = io.BytesIO()
    Image.new("RGB", (2000, 1000), "navy").save(buf, "PNG")
    sent = await upload(alice, buf.getvalue(), name="wide.png", content_type="image/png")
    assert (sent["width"], sent["height"], sent["size"]) == (2000, 1000, len(buf.getvalue()))
    assert (await fetch(alice, sent["url"]))[1] == buf.getvalue()
    _, thumb, _ = await fetch(alice, sent["thumb_url"])
    assert Image.open(io.BytesIO(thumb)).size == (800, 400)  # at most 800 px


async def test_animated_gif_stays_animated(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    frames = [Image.new("RGB", (1000, 200), c) for c in ("red", "green", "blue")]
    buf = io.BytesIO()
    frames[0].save(
        buf,
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=120,
        loop=0,
        comment=b"made at home",
    )
    sent = await upload(alice, buf.getvalue(), name="party.gif", content_type="image/gif")
    assert sent["animated"] is True and (sent["width"], sent["height"]) == (1000, 200)

    _, body, headers = await fetch(alice, sent["url"])
    assert headers["Content-Type"] == "image/gif"
    served = Image.open(io.BytesIO(body))
    assert served.n_frames == 3 and b"made at home" not in body
    colours = []
    for i in range(3):
        served.seek(i)
        colours.append(served.convert("RGB").getpixel((10, 10)))
    assert colours == [(255, 0, 0), (0, 128, 0), (0, 0, 255)]

    _, thumb, _ = await fetch(alice, sent["thumb_url"])
    small = Image.open(io.BytesIO(thumb))
    assert small.size == (800, 160) and getattr(small, "n_frames", 1) == 3

    # A small animation is its own thumbnail, still animated.
    small_gif = io.BytesIO()
    tiny = [Image.new("RGB", (40, 40), c) for c in ("red", "blue")]
    tiny[0].save(small_gif, "GIF", save_all=True, append_images=tiny[1:], duration=100, loop=0)
    sent = await upload(alice, small_gif.getvalue(), name="tiny.gif", content_type="image/gif")
    _, thumb, headers = await fetch(alice, sent["thumb_url"])
    assert headers["Content-Type"] == "image/gif"
    assert Image.open(io.BytesIO(thumb)).n_frames == 2


async def test_decompression_bombs_are_refused(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, "PNG")  # tiny file, 100 megapixels
    assert len(buf.getvalue()) < 100_000
    status, body = await send_upload(alice, buf.getvalue(), name="bomb.png")
    assert status == 413 and body["error"]["code"] == "too_large"
    assert "pixels" in body["error"]["message"]


async def test_a_damaged_photo_is_refused_rather_than_kept_with_its_metadata(
    server: Server, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    photo = phone_photo()
    status, body = await send_upload(alice, photo[: len(photo) // 2], name="cut.jpg")
    assert status == 400 and "damaged" in body["error"]["message"]
    assert temp_files(server) == []  # no half-made copy or thumbnail stays behind
