"""Recordings as a browser's MediaRecorder makes them, for the upload and player tests.

MediaRecorder writes its WebM as it goes and never goes back: no Duration and no Cues.
Firefox's files are like that, and Chromium then cannot seek in them. PyAV writing to a
stream it cannot seek in does the same, so the tests need no browser to make one."""

from __future__ import annotations

import io
import math
import struct

import av

RATE = 48_000
FRAME = 960  # 20 ms of Opus
_TONE = b"".join(
    struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * n / RATE))) for n in range(FRAME)
)


class _Forward:
    """A file object with no seek: the muxer writes once, front to back."""

    def __init__(self) -> None:
        self.out = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.out.write(data)


def recording(
    seconds: float,
    *,
    video: bool = False,
    container: str = "webm",
    size: tuple[int, int] = (320, 240),
    fps: int = 15,
) -> bytes:
    """`seconds` of a 440 Hz tone (Opus, mono) and, with `video`, changing grey frames
    (VP8), in a WebM or Ogg file written without Duration or Cues."""
    sink = _Forward()
    out = av.open(sink, "w", format=container)
    audio = out.add_stream("libopus", rate=RATE, layout="mono")
    picture = None
    if video:
        picture = out.add_stream("libvpx", rate=fps)
        picture.width, picture.height = size
        picture.pix_fmt = "yuv420p"
        picture.codec_context.options = {"deadline": "realtime", "cpu-used": "8"}
    frames = round(seconds * RATE / FRAME)
    shown = 0
    for i in range(frames):
        sound = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        sound.planes[0].update(_TONE)
        sound.sample_rate = RATE
        sound.pts = i * FRAME
        for packet in audio.encode(sound):
            out.mux(packet)
        # Interleaved as a recorder writes them: each picture when its time comes.
        while picture is not None and shown * RATE < (i + 1) * FRAME * fps:
            image = av.VideoFrame(size[0], size[1], "yuv420p")
            for plane in image.planes:
                plane.update(bytes([(shown * 8) % 256]) * plane.buffer_size)
            image.pts = shown
            shown += 1
            for packet in picture.encode(image):
                out.mux(packet)
    if picture is not None:
        for packet in picture.encode():
            out.mux(packet)
    for packet in audio.encode():
        out.mux(packet)
    out.close()
    return sink.out.getvalue()


CUES_ID = b"\x1c\x53\xbb\x6b"  # the Matroska element that indexes a file for seeking


def media_facts(data: bytes) -> tuple[float | None, bool]:
    """A file's duration in seconds as a demuxer reads it from the header (None: not
    there), and whether it has Cues."""
    with av.open(io.BytesIO(data), "r") as media:
        duration = media.duration
    return (duration / 1_000_000 if duration is not None else None), CUES_ID in data
