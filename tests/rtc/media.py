"""Recognisable test media for aiortc peers: a coloured picture and a tone."""

from __future__ import annotations

import array
import itertools
import math

from aiortc import AudioStreamTrack, VideoStreamTrack
from av import AudioFrame, VideoFrame
from av.frame import Frame

# A saturated colour in YUV: after two VP8 round trips it still stands out from grey.
COLOUR = (150, 60, 200)
TONE_HZ = 440


SCREEN_COLOUR = (90, 200, 80)


class ColourTrack(VideoStreamTrack):
    """320x240 frames of one colour (YUV) at 30 fps."""

    def __init__(self, colour: tuple[int, int, int] = COLOUR) -> None:
        super().__init__()
        self.colour = colour

    async def recv(self) -> Frame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=320, height=240, format="yuv420p")
        for plane, value in zip(frame.planes, self.colour, strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        return frame


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone (the base class paces 20 ms frames of 8 kHz mono)."""

    async def recv(self) -> Frame:
        frame = await super().recv()
        assert isinstance(frame, AudioFrame)
        start = int(frame.pts or 0)
        samples = array.array(
            "h",
            (
                int(8000 * math.sin(2 * math.pi * TONE_HZ * (start + i) / frame.sample_rate))
                for i in range(frame.samples)
            ),
        )
        frame.planes[0].update(samples.tobytes())
        return frame


def mean_yuv(frame: VideoFrame) -> tuple[float, float, float]:
    """The average Y, U and V of a decoded yuv420p frame (line padding skipped)."""
    means = []
    for index, plane in enumerate(frame.planes):
        width = frame.width if index == 0 else frame.width // 2
        height = frame.height if index == 0 else frame.height // 2
        data = bytes(plane)
        total = sum(
            sum(data[r * plane.line_size : r * plane.line_size + width]) for r in range(height)
        )
        means.append(total / (width * height))
    return means[0], means[1], means[2]


def tone_level(frame: AudioFrame) -> tuple[float, float]:
    """(RMS, zero crossings per second) of a decoded s16 frame's first channel."""
    samples = array.array("h", bytes(frame.planes[0]))
    channels = len(frame.layout.channels)
    first = samples[::channels][: frame.samples]
    rms = math.sqrt(sum(s * s for s in first) / max(1, len(first)))
    crossings = sum(1 for a, b in itertools.pairwise(first) if (a < 0) != (b < 0))
    return rms, crossings * frame.sample_rate / max(1, len(first))
