"""Reading videos frame by frame (streaming: one decoded frame in memory at a time), with PyAV.

PyAV wraps FFmpeg's libraries and ships them inside its wheel: any container FFmpeg demuxes
(mp4, mov, mkv, avi, webm, ...) and codec it decodes; frames come with their presentation
timestamps; rotation comes as the frame's display matrix; audio packets can be copied into
another container byte for byte (:mod:`photomend.video.writer`). See docs/video.md for why
PyAV rather than imageio-ffmpeg.

Frames are float32 HxWx3 RGB in [0, 1] (photomend's array convention), in *stored*
orientation: a phone clip shot upright is decoded sideways, and the writer copies its
rotation to the output, so players show the result the same way round as the input.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from photomend.errors import InputError, OptionalDependencyError

#: Suffixes that the CLI treats as videos (any FFmpeg container is read if given directly).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts",
                  ".wmv", ".flv", ".3gp", ".ogv", ".gif")


class VideoReadError(InputError):
    """A file is not a readable video: missing, not a container, no video stream, or a frame
    that cannot be decoded (the message names it)."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns from a video's header (and its first frame)."""

    path: Path
    width: int
    height: int
    #: Average frame rate (frames per second); variable-rate clips keep their own timestamps.
    fps: Fraction
    #: Time base of the video stream's timestamps (seconds per tick).
    time_base: Fraction
    #: Frame count from the header (an estimate: some containers do not store it); 0 unknown.
    frames: int
    #: Seconds (0.0 when the container does not say).
    duration: float
    #: Display rotation, degrees counter-clockwise (0, 90, 180, -90).
    rotation: int
    codec: str
    pix_fmt: str
    #: Bits per colour sample of the source (8, 10, 12, ...).
    bit_depth: int
    #: Codec names of the audio streams (copied to the output untouched).
    audio: tuple[str, ...]


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its number in the clip, its timestamp and its pixels."""

    index: int
    #: Presentation time in seconds from the start of the stream.
    time: float
    #: Presentation timestamp in ``VideoInfo.time_base`` ticks.
    pts: int
    rgb: np.ndarray


def require_av():
    """The ``av`` module, or OptionalDependencyError naming the extra that installs it."""
    try:
        import av
    except ImportError:
        raise OptionalDependencyError(
            "video needs PyAV: pip install 'photomend[video]' (or pip install av)") from None
    return av


def open_video(path: str | os.PathLike[str]):
    """The PyAV input container of ``path`` and its first video stream; VideoReadError with
    one line saying what is wrong otherwise."""
    av = require_av()
    path = Path(path)
    if not path.exists():
        raise VideoReadError(f"{path}: no such file")
    if path.is_dir():
        raise VideoReadError(f"{path} is a folder, not a video")
    try:
        container = av.open(str(path), "r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoReadError(f"{path}: not a video FFmpeg can read "
                             f"({_reason(exc)})") from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        container.close()
        raise VideoReadError(f"{path} has no video stream (it has: {', '.join(kinds)})")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read ``path``'s header and first frame: size, rate, duration, rotation, audio codecs.

    Raises VideoReadError for a missing file, a file that is not a video, a video with no
    video stream or whose first frame does not decode.
    """
    container, stream = open_video(path)
    try:
        first = next(_decode(container, stream, Path(path)), None)
        if first is None:
            raise VideoReadError(f"{path}: the video stream has no frames")
        cc = stream.codec_context
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        tb = stream.time_base or Fraction(1, 1000)
        duration = 0.0
        if stream.duration is not None:
            duration = float(stream.duration * tb)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        frames = int(stream.frames or 0) or (round(duration * fps) if duration else 0)
        comp = first.format.components
        depth = max((c.bits for c in comp), default=8) if comp else 8
        return VideoInfo(
            path=Path(path), width=first.width, height=first.height, fps=Fraction(fps),
            time_base=Fraction(tb), frames=frames, duration=duration,
            rotation=int(round(first.rotation or 0)), codec=cc.name,
            pix_fmt=first.format.name, bit_depth=int(depth),
            audio=tuple(a.codec_context.name for a in container.streams.audio),
        )
    finally:
        container.close()


def read_frames(path: str | os.PathLike[str], *, start: float | None = None,
                duration: float | None = None) -> Iterator[Frame]:
    """Decode ``path``'s first video stream frame by frame (float32 HxWx3 RGB in [0, 1]).

    Parameters
    ----------
    start : skip the frames shown before this time (seconds); seeks to the key frame before.
    duration : stop after this many seconds from ``start``.

    A frame that FFmpeg cannot decode stops the reading with VideoReadError naming the frame
    number (no frame is skipped silently); a frame that FFmpeg decodes but flags as damaged
    (concealed errors) is kept, with a warning naming it. 10- and 12-bit sources are decoded at
    16 bits, so nothing of their depth is lost before the float conversion.

    >>> import tempfile, numpy as np
    >>> from photomend.video.writer import write_video
    >>> out = Path(tempfile.mkdtemp()) / "grey.mp4"
    >>> write_video(out, (np.full((16, 16, 3), 0.5, np.float32) for _ in range(3)), fps=5)
    >>> [round(f.time, 2) for f in read_frames(out)]
    [0.0, 0.2, 0.4]
    """
    if start is not None and start < 0:
        raise InputError(f"start must not be negative, got {start}")
    if duration is not None and duration <= 0:
        raise InputError(f"duration must be positive, got {duration}")
    container, stream = open_video(path)
    try:
        tb = Fraction(stream.time_base or Fraction(1, 1000))
        origin = stream.start_time if stream.start_time is not None else None
        if start:
            try:
                container.seek(int((start + float(origin or 0) * float(tb)) / tb),
                               stream=stream, backward=True, any_frame=False)
            except Exception:  # noqa: BLE001  (unseekable: decode from the start instead)
                container.close()
                container, stream = open_video(path)
        end = None if duration is None else (start or 0.0) + duration
        index, last_pts = 0, None
        wide = None
        for frame in _decode(container, stream, Path(path)):
            pts = frame.pts
            if pts is None:
                pts = (last_pts + 1) if last_pts is not None else 0
            if origin is None:
                origin = pts
            t = float((pts - origin) * tb)
            if start and t < start - 1e-6:
                continue
            if end is not None and t >= end - 1e-6:
                break
            if getattr(frame, "is_corrupt", False):
                warnings.warn(f"{Path(path).name}: frame {index + 1} (t={t:.3f} s) is damaged; "
                              "kept as FFmpeg concealed it", stacklevel=2)
            if wide is None:
                comp = frame.format.components
                wide = any(c.bits > 8 for c in comp)
            if wide:
                rgb = frame.to_ndarray(format="rgb48le").astype(np.float32) / 65535.0
            else:
                rgb = frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0
            yield Frame(index=index, time=t, pts=int(pts - origin), rgb=rgb)
            index += 1
            last_pts = pts
    finally:
        container.close()


def _decode(container, stream, path: Path):
    """Decoded frames, turning FFmpeg errors into VideoReadError naming the frame."""
    av = require_av()
    n = 0
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                yield frame
                n += 1
    except av.error.FFmpegError as exc:
        raise VideoReadError(f"{path}: frame {n + 1} cannot be decoded ({_reason(exc)}); "
                             "stopped there, nothing was written") from None


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())[:160]


def expected_frames(info: VideoInfo, start: float | None, duration: float | None) -> int:
    """Frames expected from ``start`` for ``duration`` s (for progress bars; 0: unknown)."""
    if not info.frames:
        return 0
    left = max(0.0, info.duration - (start or 0.0)) if info.duration else None
    if duration is not None:
        left = duration if left is None else min(left, duration)
    if left is None:
        return info.frames
    return max(1, round(left * float(info.fps)))
