"""Recordings remuxed on upload (appliance/files/remux.py): time and peak memory for a
5-minute voice message and a 1-minute video message written as MediaRecorder writes them
(no Duration, no Cues).

For each clip it prints:
- the wall time of `remux.examine()` as the server calls it (in a decode process forked
  from the fork server; the first call also starts the fork server, so it is warmed first);
- in a process of its own running the same job: its peak RSS (VmHWM) and peak address
  space (VmPeak; a decode process is capped at `uploads.image_decode_bytes`, 640 MiB)
  before the remux (Python with PyAV imported) and after it.

    .venv/bin/python bench/remux.py
    .venv/bin/python bench/remux.py --voice-s 600 --video-s 180   # the recorder's caps
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.files import remux  # noqa: E402
from appliance.files.decoder import decoder  # noqa: E402
from tests.recordings import recording  # noqa: E402

# In a process of its own: the job remux.examine() runs in the decode process.
CHILD = """
import json, sys
from pathlib import Path
from appliance.files import remux

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) // 1024 for k in ("VmHWM", "VmPeak")}

before = status()
facts = remux._remux_file(Path(sys.argv[1]), Path(sys.argv[2]), "matroska")
print(json.dumps({"before": before, "after": status(), "duration_ms": facts.duration_ms}))
"""


def camera_clip(seconds: int, size: tuple[int, int] = (640, 480), fps: int = 30) -> bytes:
    """A camera-like VP8+Opus WebM (~2.5 Mbit/s, as Chromium records 640x480), written
    without Duration or Cues. Two seconds are encoded (a moving band of noise, as sensor
    noise and motion cost bits) and their packets repeated with later times: remuxing
    copies packets and never decodes them, so only their number and size matter."""
    loop_s = 2
    source = av.open(io.BytesIO(_encoded_loop(loop_s, size, fps)), "r")
    packets = [p for p in source.demux() if p.dts is not None]
    sink = _Forward()
    out = av.open(sink, "w", format="webm")
    mapping = {s.index: out.add_stream_from_template(s) for s in source.streams}
    # The encoder's last Opus packet ends past the loop: laps start a little apart.
    period = loop_s + 0.05
    for lap in range(round(seconds / period)):
        for p in packets:
            assert p.time_base is not None and p.pts is not None and p.dts is not None
            shift = int(lap * period / p.time_base)
            copy = av.Packet(bytes(p))
            copy.pts, copy.dts, copy.duration = p.pts + shift, p.dts + shift, p.duration
            copy.time_base = p.time_base
            copy.is_keyframe = p.is_keyframe
            copy.stream = mapping[p.stream.index]
            out.mux(copy)
    out.close()
    source.close()
    return sink.out.getvalue()


class _Forward:
    def __init__(self) -> None:
        self.out = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.out.write(data)


def _encoded_loop(seconds: int, size: tuple[int, int], fps: int) -> bytes:
    out_buf = io.BytesIO()
    out = av.open(out_buf, "w", format="webm")
    audio = out.add_stream("libopus", rate=48_000, layout="mono")
    video = out.add_stream("libvpx", rate=fps)
    video.width, video.height = size
    video.pix_fmt = "yuv420p"
    video.bit_rate = 2_500_000
    video.codec_context.options = {"deadline": "realtime", "cpu-used": "8"}
    band = size[1] // 8
    for i in range(seconds * fps):
        frame = av.VideoFrame(size[0], size[1], "yuv420p")
        y = frame.planes[0]
        rows = bytearray(b"\x80" * y.buffer_size)
        top = (i * 7 % (size[1] - band)) * y.line_size
        rows[top : top + band * y.line_size] = os.urandom(band * y.line_size)
        y.update(bytes(rows))
        for plane in frame.planes[1:]:
            plane.update(b"\x80" * plane.buffer_size)
        frame.pts = i
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    silence = av.AudioFrame(format="s16", layout="mono", samples=960)
    silence.planes[0].update(bytes(1920))
    silence.sample_rate = 48_000
    for i in range(seconds * 50):
        silence.pts = i * 960
        for packet in audio.encode(silence):
            out.mux(packet)
    for packet in audio.encode():
        out.mux(packet)
    out.close()
    return out_buf.getvalue()


def measure(name: str, data: bytes, work: Path) -> None:
    path = work / f"{name}.webm"
    path.write_bytes(data)
    mime = "video/webm" if name == "video" else "audio/webm"
    times = []
    for _ in range(3):
        start = time.perf_counter()
        facts = remux.examine(path, work, mime)
        times.append(time.perf_counter() - start)
        assert facts is not None
        made = facts.remuxed.stat().st_size
        facts.remuxed.unlink()
    target = work / f"{name}.out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(target)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    mem = json.loads(done.stdout)
    all_ms = ", ".join(f"{t * 1000:.0f}" for t in times)
    target.unlink()
    print(
        f"{name}: {len(data) / 1e6:.1f} MB in, {made / 1e6:.1f} MB out,"
        f" {facts.duration_ms / 1000:.1f} s of media;"
        f" remux {min(times) * 1000:.0f} ms (best of 3; all: {all_ms});"
        f" peak RSS {mem['before']['VmHWM']} -> {mem['after']['VmHWM']} MiB,"
        f" address space {mem['before']['VmPeak']} -> {mem['after']['VmPeak']} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voice-s", type=int, default=300)
    parser.add_argument("--video-s", type=int, default=60)
    args = parser.parse_args()
    decoder().start()
    with tempfile.TemporaryDirectory(prefix="remux-bench-") as tmp:
        work = Path(tmp)
        warm = work / "warm.webm"
        warm.write_bytes(recording(1))
        facts = remux.examine(warm, work, "audio/webm")  # the fork server's first child
        assert facts is not None
        print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
        started = time.perf_counter()
        voice = recording(args.voice_s)
        video = camera_clip(args.video_s)
        print(f"(clips made in {time.perf_counter() - started:.0f} s)")
        measure("voice", voice, work)
        measure("video", video, work)
    decoder().close()


if __name__ == "__main__":
    main()
