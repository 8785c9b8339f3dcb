"""Recordings rewritten on upload so that every browser can play and seek them.

MediaRecorder writes WebM as it records, so it cannot go back for the Duration and the Cues
(the index of where each time starts): Chromium then plays Firefox's recordings not at all
(`PIPELINE_ERROR_READ: demuxer seek failed`) and its own without a length. Copying the
packets as they are, without re-encoding, into a new WebM file on disk lets the muxer
write both. The duration shown is then the media's, not the recorder's stop time.

It runs in the decoder's throwaway process (decoder.py): memory and time capped, one at a
time with image decodes. Cheap checks first: the type sniffed from the first bytes and the
size, before anything parses the file; the demuxer is named, never guessed.

What becomes of a file that looks like WebM or Ogg:
- remuxed: the copy is stored, as audio/webm or video/webm, with the media's duration;
- kept as uploaded, as before: too big to be one of our recordings (they stop at 10 min of
  voice, 3 of video), or a codec WebM cannot carry (Matroska with H.264, Ogg Theora): those
  are someone's files to download, not recordings;
- refused (400): no audio or video can be read from it. Served, it would only fail in the
  player, with nothing to say why.
"""

from __future__ import annotations

import errno
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadRequest
from .decoder import DecodeFailed, decoder, needs_memory

if TYPE_CHECKING:  # PyAV is imported in the decode process, never by the server itself
    import av

# What the WebM muxer accepts; the browsers that play WebM play all of them.
WEBM_CODECS = frozenset({"opus", "vorbis", "vp8", "vp9", "av1"})
DEMUXERS = {
    "audio/webm": "matroska",
    "video/webm": "matroska",
    "audio/ogg": "ogg",
    "video/ogg": "ogg",
}
# A recording stays far below (3 min of video at 2.5 Mbit/s is ~56 MB): above this a file is
# someone's film, and copying it would only hold the decoder for long.
MAX_BYTES = 256 << 20
MAX_STREAMS = 4
# A cluster, and so a cue to seek to, every second: audio alone would get one per 5 s.
MUXER_OPTIONS = {"cluster_time_limit": "1000"}
MAX_DURATION_MS = 24 * 3600 * 1000
OGG_EXTENSIONS = (".ogg", ".oga", ".ogv", ".opus")
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})
DAMAGED = "This recording could not be read; it may be damaged."


@dataclass(frozen=True)
class MediaFacts:
    mime: str  # audio/webm or video/webm
    duration_ms: int
    remuxed: Path  # the copy to store instead of the upload


class DamagedMedia(BadRequest):
    pass


def examine(path: Path, work_dir: Path, mime: str) -> MediaFacts | None:
    """A remuxed copy of a WebM or Ogg file `path` sniffed as `mime`; None when it is kept as
    uploaded (not WebM or Ogg, too big, codecs WebM cannot hold). Blocks: call it in a
    thread. Raises DamagedMedia when nothing can be read from it."""
    demuxer = DEMUXERS.get(mime)
    if demuxer is None or path.stat().st_size > MAX_BYTES:
        return None
    target = work_dir / secrets.token_hex(16)
    try:
        return decoder().run(_remux_file, path, target, demuxer, what="recording")
    except BaseException:
        target.unlink(missing_ok=True)  # nothing half-made stays in the temp folder
        raise


def stored_name(name: str) -> str:
    """The name of a remuxed file: an Ogg one is WebM now."""
    stem, dot, ext = name.rpartition(".")
    if dot and f".{ext.lower()}" in OGG_EXTENSIONS and stem:
        return f"{stem}.webm"
    return name


def _remux_file(path: Path, target: Path, demuxer: str) -> MediaFacts | None:
    """In the decode process: examine(). Every libav error becomes DamagedMedia here: the
    parent gets a clear 400, and libav's own exceptions do not always survive the pipe."""
    import av

    try:
        with av.open(str(path), "r", format=demuxer) as source:
            streams = [s for s in source.streams if s.type in ("audio", "video")]
            if not streams or len(streams) > MAX_STREAMS:
                raise DamagedMedia(DAMAGED)
            if any(s.codec_context.name not in WEBM_CODECS for s in streams):
                return None
            kind = "video" if any(s.type == "video" for s in streams) else "audio"
            span = _copy(source, streams, target)
        return MediaFacts(f"{kind}/webm", _duration_ms(target, span), target)
    except av.error.MemoryError:
        raise DecodeFailed(needs_memory("recording")) from None
    except av.FFmpegError as e:
        if isinstance(e, OSError) and e.errno in DISK_ERRNOS:
            raise OSError(e.errno, os.strerror(e.errno)) from None  # the disk, not the file
        raise DamagedMedia(DAMAGED) from None
    except (ValueError, EOFError, UnicodeDecodeError):
        raise DamagedMedia(DAMAGED) from None


def _copy(
    source: av.container.InputContainer, streams: list[av.stream.Stream], target: Path
) -> float:
    """Copy the packets into a WebM file at `target`; the seconds they span."""
    import av

    start: float | None = None
    end = 0.0
    copied = 0
    # A file on disk, seekable: the muxer goes back to write Duration and Cues.
    with av.open(str(target), "w", format="webm", options=MUXER_OPTIONS) as out:
        mapping = {s.index: out.add_stream_from_template(s) for s in streams}
        packets = source.demux(streams)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError:
                if not copied:
                    raise
                break  # cut short (a tab closed while recording): keep what was read
            if packet.dts is None:
                continue  # the demuxer's end-of-stream marker, no data
            if packet.pts is not None and packet.time_base is not None:
                at = float(packet.pts * packet.time_base)
                start = at if start is None else min(start, at)
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)
            copied += 1
    if not copied:
        raise DamagedMedia(DAMAGED)
    return end - (start or 0.0)


def _duration_ms(target: Path, span_s: float) -> int:
    """The duration players will show: the new file's, else the span of its packets."""
    import av

    with av.open(str(target), "r", format="matroska") as made:
        duration = made.duration  # in av.time_base units (microseconds)
    ms = round(duration / 1000) if duration is not None else round(span_s * 1000)
    if not 0 < ms <= MAX_DURATION_MS:
        raise DamagedMedia(DAMAGED)
    return ms
