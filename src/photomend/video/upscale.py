"""Upscaling a video: :func:`upscale_video` (file in, file out, streaming).

Any upscaler of the image registry (``photomend upscale --list-models``) runs frame by
frame; ``compact-vsr`` (:mod:`photomend.video.vsr`) uses the neighbouring frames too.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photomend.upscaling.base import ProgressFn, check_upscaler
from photomend.video import vsr
from photomend.video.reader import Frame, expected_frames, probe, read_frames
from photomend.video.writer import check_output, write_like_source

#: The model used for videos when none is named, at the scales it has: the multi-frame
#: ``compact-vsr`` (better than ``compact`` on every held-out real clip, worse on a clean
#: synthetic pan; benchmarks/results_video.md). Other scales: :data:`FALLBACK_VIDEO_UPSCALER`.
DEFAULT_VIDEO_UPSCALER = vsr.NAME
FALLBACK_VIDEO_UPSCALER = "compact"


def is_multi_frame(model: str) -> bool:
    """Whether ``model`` is a multi-frame video model (``compact-vsr``, ``basicvsr*``).

    >>> is_multi_frame("compact-vsr"), is_multi_frame("basicvsr"), is_multi_frame("compact")
    (True, True, False)
    """
    from photomend.video import basicvsr

    return model == vsr.NAME or basicvsr.is_basicvsr(model)


def window_context(model: str) -> tuple[int, int]:
    """A multi-frame model's (window, context) in frames; (1, 0) for a single-frame one."""
    from photomend.video import basicvsr

    if model == vsr.NAME:
        return vsr.WINDOW, vsr.CONTEXT
    if basicvsr.is_basicvsr(model):
        return basicvsr.WINDOW, basicvsr.CONTEXT
    return 1, 0


def default_video_model(scale: int) -> str:
    """``compact-vsr`` for x2 and x4, ``compact`` for the other scales.

    >>> default_video_model(2), default_video_model(3)
    ('compact-vsr', 'compact')
    """
    return DEFAULT_VIDEO_UPSCALER if int(scale) in vsr.SCALES else FALLBACK_VIDEO_UPSCALER


@dataclass(frozen=True)
class VideoResult:
    """What :func:`upscale_video` wrote."""

    output: Path
    frames: int
    width: int
    height: int
    model: str
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def check_video_model(model: str, scale: int) -> None:
    """Raise before any work for an unknown model, a scale it lacks or missing weights."""
    from photomend.video import basicvsr

    if model == vsr.NAME:
        vsr.check_scale(int(scale))
    elif basicvsr.is_basicvsr(model):
        basicvsr.check(model, int(scale))
    else:
        check_upscaler(model, scale)


def upscale_video(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    scale: int = 2,
    *,
    model: str | None = None,
    start: float | None = None,
    duration: float | None = None,
    crf: int = 18,
    preset: str = "medium",
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> VideoResult:
    """Upscale the video ``source`` by ``scale`` into ``output`` (.mp4/.mov/.mkv: H.264; a
    name without suffix: a folder of PNG frames and ``timestamps.txt``).

    Parameters
    ----------
    source : any video FFmpeg reads (mp4, mov, mkv, avi, webm, ...).
    output : the result; written under a temporary name and renamed when complete, never
        over ``source``.
    scale : 2, 3 or 4 (what ``model`` supports; ``compact-vsr``: 2 and 4; ``basicvsr``: 4).
    model : ``compact-vsr`` or an installed BasicVSR (``basicvsr`` = ``basicvsr-reds4``,
        ``basicvsr-vimeo90k-bi``, ``-bd``: ``photomend models fetch NAME``) (multi-frame),
        or any image upscaler name (frame by frame);
        None = :func:`default_video_model` (``compact-vsr`` at x2 and x4, else ``compact``).
    start, duration : seconds; only that part of the clip (audio cut to match).
    crf, preset : libx264's quality (lower = better, 18 = visually lossless) and speed.
    overwrite : replace an existing ``output``.
    progress : ``progress("frames", done, total)`` after each frame (``total`` estimated
        from the header; 0 when unknown).

    Frame timestamps, frame rate, rotation metadata and the audio streams (copied packet by
    packet, bit-identical) are kept.

    Raises
    ------
    VideoReadError (an InputError) for unreadable input or an undecodable frame (named);
    InputError for a bad model or scale; OutputError for a bad or existing output.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from photomend.video.writer import write_video
    >>> d = Path(tempfile.mkdtemp())
    >>> write_video(d / "in.mp4", (np.full((16, 24, 3), 0.5, np.float32) for _ in range(4)), fps=8)
    >>> r = upscale_video(d / "in.mp4", d / "out.mp4", 2, model="bicubic")
    >>> (r.frames, r.width, r.height)
    (4, 48, 32)
    """
    scale = int(scale)
    name = model or default_video_model(scale)
    check_video_model(name, scale)
    source, output = Path(source), check_output(output, source, overwrite=overwrite)
    info = probe(source)
    total = expected_frames(info, start, duration)
    started = time.perf_counter()
    frames = read_frames(source, start=start, duration=duration)
    pts_queue: deque[int] = deque()

    def lows() -> Iterator[np.ndarray]:
        for frame in frames:
            pts_queue.append(frame.pts)
            yield frame.rgb

    count, size = write_like_source(output, source, info, _upscaled(lows(), scale, name),
                                    pts_queue, start=start, duration=duration, crf=crf,
                                    preset=preset, overwrite=overwrite, progress=progress,
                                    total=total)
    return VideoResult(output=output, frames=count, width=size[1], height=size[0], model=name,
                       seconds=time.perf_counter() - started)


def upscale_frames(frames, scale: int, model: str | None = None) -> Iterator[np.ndarray]:
    """float32 HxWx3 frames -> upscaled float32 frames, one for one (streaming)."""
    name = model or default_video_model(int(scale))
    check_video_model(name, int(scale))
    yield from _upscaled(iter(frames), int(scale), name)


def _upscaled(lows: Iterator[np.ndarray], scale: int, model: str, *,
              skip: int = 0) -> Iterator[np.ndarray]:
    """Upscaled frames; the first ``skip`` frames are context only (not output)."""
    from photomend.video import basicvsr

    if model == vsr.NAME:
        yield from vsr.MultiFrameUpscaler(scale).upscale_frames(lows, skip=skip)
        return
    if basicvsr.is_basicvsr(model):
        up = basicvsr.BasicVSRUpscaler(basicvsr.check(model, scale))
        yield from up.upscale_frames(lows, skip=skip)
        return
    from photomend.upscaling.api import upscale_array

    for i, rgb in enumerate(lows):
        if i >= skip:
            yield upscale_array(rgb, scale, model=model)


__all__ = ["DEFAULT_VIDEO_UPSCALER", "default_video_model", "Frame", "VideoResult", "upscale_frames", "upscale_video"]
