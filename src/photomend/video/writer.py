"""Writing videos: H.264 in mp4/mov/mkv (PyAV's libx264), or a folder of PNG frames.

Output is atomic: frames go to a hidden temporary file (or folder) beside the destination,
which is renamed onto the final name only once everything is written; an error or an
interrupt removes it, so a partial result never sits under the final name. The destination
must not be the input (checked with the file identity, not the spelling of the path).

Audio: every audio stream of the source is copied packet by packet (the bytes are not
decoded or re-encoded), cut to the same time window as the video. A codec the output
container cannot hold (e.g. PCM in mp4) is re-encoded to AAC with a warning; mkv holds them all.
"""

from __future__ import annotations

import os
import secrets
import shutil
import warnings
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from photomend.errors import InputError, OutputError
from photomend.video.reader import require_av

#: Suffixes written as H.264 video; anything else with no suffix is a PNG frame folder.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def check_output(out: str | os.PathLike[str], source: str | os.PathLike[str] | None = None,
                 *, overwrite: bool = False) -> Path:
    """Validate the output path before any slow work: a known kind (.mp4/.mov/.mkv or a
    folder name without suffix), not the input, not an existing file unless ``overwrite``."""
    out = Path(out)
    if out.suffix and out.suffix.lower() not in CONTAINERS:
        raise OutputError(f"{out}: cannot write {out.suffix} videos; use .mp4, .mov, .mkv, "
                          "or a folder name (no suffix) for PNG frames")
    if source is not None and _same(out, Path(source)):
        raise OutputError(f"{out} is the input video; choose another output name")
    if out.exists() and not overwrite:
        raise OutputError(f"{out} exists; pass --overwrite (overwrite=True) to replace it")
    if out.exists() and out.is_dir() != (not out.suffix):
        raise OutputError(f"{out} exists and is a {'folder' if out.is_dir() else 'file'}")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"the folder {parent} does not exist")
    return out


class VideoWriter:
    """Write frames to ``out`` atomically; use as a context manager.

    >>> import tempfile, numpy as np
    >>> out = Path(tempfile.mkdtemp()) / "a.mp4"
    >>> with VideoWriter(out, fps=10) as w:
    ...     for i in range(4):
    ...         w.write(np.full((8, 12, 3), i / 4, np.float32))
    >>> out.is_file()
    True
    """

    def __init__(self, out: str | os.PathLike[str], *, fps: float | Fraction = 25,
                 time_base: Fraction | None = None, rotation: int = 0,
                 audio_from: str | os.PathLike[str] | None = None,
                 audio_window: tuple[float, float | None] = (0.0, None),
                 crf: int = 18, preset: str = "medium", overwrite: bool = False,
                 source: str | os.PathLike[str] | None = None,
                 bframes: int | None = None) -> None:
        self.out = check_output(out, source if source is not None else audio_from,
                                overwrite=overwrite)
        self.fps = Fraction(fps).limit_denominator(1_000_000)
        if self.fps <= 0:
            raise InputError(f"fps must be positive, got {fps}")
        self.time_base = Fraction(time_base) if time_base else 1 / self.fps
        self.rotation, self.crf, self.preset = int(rotation), int(crf), preset
        self.bframes = bframes
        self.audio_from, self.audio_window = audio_from, audio_window
        self.frames_folder = not self.out.suffix
        self.tmp = self.out.with_name(f".{self.out.name}.{secrets.token_hex(4)}.tmp"
                                      f"{self.out.suffix}")
        self.container = self.stream = None
        self.count, self.last_pts, self.size = 0, None, None
        self.times: list[float] = []
        self.cropped = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Append one float32 HxWx3 frame in [0, 1] (or uint8); ``pts`` in ``time_base``
        ticks (None: the next frame at ``fps``). Timestamps that do not increase are bumped."""
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InputError(f"expected an HxWx3 frame, got shape {rgb.shape}")
        if pts is None:
            pts = 0 if self.last_pts is None else self.last_pts + max(
                1, round(1 / (self.fps * self.time_base)))
        pts = int(pts)
        if self.last_pts is not None and pts <= self.last_pts:
            pts = self.last_pts + 1
        u8 = rgb if rgb.dtype == np.uint8 else (
            np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        if self.size is None:
            self.size = u8.shape[:2]
            self._open()
        elif u8.shape[:2] != self.size:
            raise InputError(f"frame {self.count + 1} is {u8.shape[1]}x{u8.shape[0]}, the "
                             f"first was {self.size[1]}x{self.size[0]}")
        if self.frames_folder:
            import cv2

            cv2.imwrite(str(self.tmp / f"{self.count:06d}.png"), u8[..., ::-1])
        else:
            av = require_av()
            h, w = self.enc_size
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(u8[:h, :w]), format="rgb24")
            frame.pts = pts
            frame.time_base = self.time_base
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
        self.times.append(float(pts * self.time_base))
        self.count += 1
        self.last_pts = pts

    def _open(self) -> None:
        h, w = self.size
        if self.frames_folder:
            self.tmp.mkdir()
            return
        av = require_av()
        # 4:2:0 H.264 needs even sides: an odd one loses its last row or column.
        self.enc_size = (h - h % 2, w - w % 2)
        if self.enc_size != (h, w):
            warnings.warn(f"H.264 needs even sizes: {w}x{h} frames are written as "
                          f"{self.enc_size[1]}x{self.enc_size[0]} (a PNG folder keeps all)",
                          stacklevel=3)
        try:
            self.container = av.open(str(self.tmp), "w", format=CONTAINERS[self.out.suffix.lower()])
        except av.error.FFmpegError as exc:
            raise OutputError(f"cannot write {self.out}: {exc}") from None
        stream = self.container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = self.enc_size[1], self.enc_size[0]
        stream.pix_fmt = "yuv420p"
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        stream.options = {"crf": str(self.crf), "preset": self.preset}
        if self.bframes is not None:  # 0: decode order = display order (segments join cleanly)
            stream.codec_context.max_b_frames = int(self.bframes)
        if self.rotation:
            stream.set_display_rotation(self.rotation)
        self.stream = stream
        self.audio = self._add_audio()

    def _add_audio(self) -> list:
        """Output streams for the source's audio: (input index, output stream, copied?)."""
        if self.audio_from is None:
            return []
        av = require_av()
        pairs = []
        with av.open(str(self.audio_from)) as src:
            for a in src.streams.audio:
                try:
                    pairs.append((a.index, self.container.add_stream_from_template(a), True))
                except (av.error.FFmpegError, ValueError) as exc:
                    warnings.warn(f"audio stream {a.index} ({a.codec_context.name}) cannot be "
                                  f"copied into {self.out.suffix}: {exc}", stacklevel=4)
        return pairs

    def _copy_audio(self) -> None:
        if not self.audio:
            return
        av = require_av()
        start, end = self.audio_window
        with av.open(str(self.audio_from)) as src:
            streams = {i: o for i, o, _ in self.audio}
            ins = [s for s in src.streams.audio if s.index in streams]
            origin = {s.index: (s.start_time or 0) for s in ins}
            for packet in src.demux(*ins):
                if packet.dts is None or packet.pts is None:
                    continue  # the demuxer's end-of-stream marker
                tb = packet.time_base
                t = float((packet.pts - origin[packet.stream.index]) * tb)
                if (start and t < start - 1e-6) or (end is not None and t >= end - 1e-6):
                    continue
                shift = round(start / tb) + origin[packet.stream.index]
                packet.pts -= shift
                packet.dts -= shift
                packet.stream = streams[packet.stream.index]
                try:
                    self.container.mux(packet)
                except av.error.FFmpegError as exc:
                    raise OutputError(f"cannot copy the audio into {self.out.name}: "
                                      f"{exc}") from None

    def close(self) -> None:
        """Flush the encoder, copy the audio, and rename the result onto ``out``."""
        try:
            if self.size is None:
                raise InputError(f"no frames to write to {self.out}")
            if self.frames_folder:
                (self.tmp / "timestamps.txt").write_text(
                    "".join(f"{t:.6f}\n" for t in self.times))
            else:
                for packet in self.stream.encode():
                    self.container.mux(packet)
                self._copy_audio()
                self.container.close()
                self.container = None
            if self.out.is_dir():  # overwrite=True was checked at construction
                shutil.rmtree(self.out)
            os.replace(self.tmp, self.out)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop the temporary output (nothing appears under the final name)."""
        if self.container is not None:
            try:
                self.container.close()
            except Exception:  # noqa: BLE001
                pass
            self.container = None
        if self.tmp.is_dir():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)


def write_video(out: str | os.PathLike[str], frames: Iterable[np.ndarray], *,
                fps: float | Fraction = 25, **options) -> None:
    """Write float32 HxWx3 ``frames`` to ``out`` at ``fps``; options as :class:`VideoWriter`."""
    with VideoWriter(out, fps=fps, **options) as writer:
        for rgb in frames:
            writer.write(rgb)


def write_like_source(out: Path, source: Path, info, frames: Iterable[np.ndarray], pts,
                      *, start: float | None, duration: float | None, crf: int, preset: str,
                      overwrite: bool, progress=None, total: int = 0) -> tuple[int, tuple[int, int]]:
    """Write ``frames`` (from ``source``'s ``start``/``duration`` range, ``info`` its
    :func:`~photomend.video.reader.probe`) to ``out`` as the source is: its frame rate, time
    base, rotation and the audio of that range; each frame takes the next timestamp from the
    deque ``pts`` (filled as the frames are read). ``progress("frames", done, total)`` after
    each frame. Returns (frames written, (height, width)); no frame at all is an InputError."""
    window = (float(start or 0.0), None if duration is None else float(start or 0.0) + duration)
    count = 0
    with VideoWriter(out, fps=info.fps, time_base=info.time_base, rotation=info.rotation,
                     audio_from=source if info.audio else None, audio_window=window,
                     crf=crf, preset=preset, overwrite=overwrite, source=source) as writer:
        for rgb in frames:
            writer.write(rgb, pts.popleft())
            count += 1
            if progress is not None:
                progress("frames", count, max(total, count))
        if count == 0:
            raise InputError(f"{source}: no frames in the requested time range")
        size = writer.size
    return count, size


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()
