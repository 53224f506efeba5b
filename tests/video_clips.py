"""Tiny video clips the video tests make themselves (PyAV): moving gradients with an AAC
audio track, a display rotation, variable frame rates, 10-bit, odd sizes, no video; and the
batch executor the video steps' resume tests kill."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from photomend.batch.local import InlineExecutor


def moving_frame(i: int, h: int, w: int) -> np.ndarray:
    """uint8 HxWx3: a textured pattern panning one pixel per frame to the right."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x = xx - i
    rgb = np.stack([0.5 + 0.4 * np.sin(x / 3.0), 0.5 + 0.4 * np.cos(yy / 4.0 + x / 7.0),
                    0.5 + 0.3 * np.sin((x + yy) / 5.0)], axis=2)
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


def make_clip(path: Path, *, frames: int = 12, size: tuple[int, int] = (48, 64),
              fps: Fraction | int = 10, audio: bool = True, rotation: int = 0,
              pts: list[int] | None = None, time_base: Fraction | None = None,
              pix_fmt: str = "yuv420p", static: bool = False) -> Path:
    """Write a clip of ``frames`` frames (``size`` = (h, w)); ``pts`` in ``time_base`` ticks
    for variable frame rates. Audio: a 440 Hz tone, AAC, as long as the video."""
    import av

    h, w = size
    fps = Fraction(fps)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        tb = time_base or 1 / fps
        v.codec_context.time_base = tb
        if rotation:
            v.set_display_rotation(rotation)
        a = None
        if audio:
            a = c.add_stream("aac", rate=16000)
            a.layout = "mono"
        for i in range(frames):
            rgb = moving_frame(0 if static else i, h, w)
            if pix_fmt.endswith("10le"):
                f = av.VideoFrame.from_ndarray(rgb.astype(np.uint16) * 257, format="rgb48le")
            else:
                f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts = pts[i] if pts else i
            f.time_base = tb
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        if a is not None:
            mux_tone(c, a, int(16000 * frames / fps))
    return path


def mux_tone(container, stream, samples: int) -> None:
    """Encode a 440 Hz tone of ``samples`` samples (16 kHz mono, blocks of 1024) into the AAC
    ``stream`` of ``container``, and flush it."""
    import av

    for t in range(0, samples, 1024):
        s = 0.3 * np.sin(2 * np.pi * 440 * np.arange(t, t + 1024) / 16000)
        af = av.AudioFrame.from_ndarray(s.astype(np.float32)[None], format="fltp", layout="mono")
        af.sample_rate, af.pts = 16000, t
        for p in stream.encode(af):
            container.mux(p)
    for p in stream.encode():
        container.mux(p)


def make_audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as c:
        a = c.add_stream("aac", rate=16000)
        a.layout = "mono"
        for t in range(0, 8192, 1024):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                            layout="mono")
            af.sample_rate, af.pts = 16000, t
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    return path


def audio_packets(path: Path) -> list[bytes]:
    import av

    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def frame_times(path: Path) -> list[float]:
    from photomend.video.reader import read_frames

    return [f.time for f in read_frames(path)]


class DiesAfterOne(InlineExecutor):
    """A batch executor that runs one video segment, then the driver 'dies' (as a kill would
    leave the journal): for the resume tests of the video batch steps."""

    def wait(self, timeout):
        results = super().wait(timeout)
        if results:
            self.finished = getattr(self, "finished", 0) + 1
            if self.finished == 2:
                raise KeyboardInterrupt
        return results


def kill_batch_mid_job(job: Path, parts: Path) -> dict[str, int]:
    """Start ``photomend batch JOB``, SIGKILL it with its workers once two segments are in
    ``parts``, and return the segments left there (name -> mtime, to check a rerun keeps them)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "photomend", "batch", str(job), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(parts.glob("*.mkv"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return {p.name: p.stat().st_mtime_ns for p in parts.glob("*.mkv")}
