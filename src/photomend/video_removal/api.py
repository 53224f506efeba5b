"""``photomend.remove_video``: a video file in, the video with the masked objects removed out
(streaming; audio, frame rate, timestamps and rotation kept; atomic output)."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photomend.errors import InputError, MaskError
from photomend.video_removal.stream import DEFAULT_RADIUS, FillStats, fill_frames

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RemoveVideoResult:
    """What :func:`remove_video` wrote and how each hole pixel was filled."""

    output: Path
    frames: int
    width: int
    height: int
    seconds: float
    stats: FillStats
    #: instances tracked by ``auto`` (0 without it), and how many ``keep`` spared
    tracks: int = 0
    kept: int = 0

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def remove_video(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    mask: str | os.PathLike[str] | np.ndarray | None = None,
    *,
    auto: str | Sequence[str] | None = None,
    keep: Sequence[tuple[float, ...]] = (),
    grow: int | None = None,
    min_score: float | None = None,
    resize_mask: bool = False,
    engine: str = "patchmatch",
    camera: str = "auto",
    radius: int = DEFAULT_RADIUS,
    start: float | None = None,
    duration: float | None = None,
    crf: int = 18,
    preset: str = "medium",
    seed: int = 0,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> RemoveVideoResult:
    """Remove what ``mask`` (and/or ``auto``) marks from every frame of the video ``source``.

    Each hole is filled from the frames that saw behind it (a temporal background for a still
    camera, optical flow for a moving one); only what no frame within ``radius`` frames saw is
    filled by the image ``engine``, once, and carried to the next frames.

    Parameters
    ----------
    source : any video FFmpeg reads.
    output : .mp4/.mov/.mkv (H.264) or a name without suffix (a folder of PNG frames);
        written under a temporary name, renamed when complete, never over ``source``.
    mask : one mask for every frame (an image file or a bool HxW array: a logo, a date stamp),
        or a folder of masks numbered by frame (``000000.png``, ``frame_1.png``; the numbers
        count the whole clip's frames, from 0 or from 1). Any non-zero pixel is removed.
    auto : COCO classes to find in every frame and remove ("person", "person,car"), tracked
        through the clip; combined with ``mask`` when both are given.
    keep : with ``auto``: (x, y) or (x, y, t seconds) points; the instances under them
        (in the frame nearest t, default 0) are kept in every frame.
    grow, min_score : the found masks' widening (px; default 8 % of the height) and the
        detector score needed (as ``photomend.auto_mask``).
    resize_mask : scale masks of another size to the frames instead of raising MaskError.
    engine : image engine for what no frame saw.
    camera : "auto", "static" or "moving" (see :func:`photomend.video_removal.fill_frames`).
    radius : frames before and after each frame it may copy from (memory: 2 * radius + 1
        frames).
    start, duration : seconds; only that part of the clip (audio cut to match).
    crf, preset : libx264's quality and speed.
    progress : ``progress(stage, done, total)`` with stage "detect" (``auto``'s pass),
        "scan" (the background pass; not with ``camera="moving"``) then "frames"; ``total`` is
        the header's estimate (0 when unknown).

    Raises
    ------
    VideoReadError (an InputError) for unreadable input; MaskError for a mask of another size,
    a mask folder missing frames (named), or a frame hidden whole with nothing to copy from;
    OutputError for a bad or existing output.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from photomend.video.writer import write_video
    >>> d = Path(tempfile.mkdtemp())
    >>> write_video(d / "in.mp4", (np.full((32, 48, 3), 0.5, np.float32) for _ in range(6)),
    ...             fps=8)
    >>> logo = np.zeros((32, 48), bool); logo[2:8, 2:12] = True
    >>> r = remove_video(d / "in.mp4", d / "out.mp4", logo)
    >>> (r.frames, r.width, r.height)
    (6, 48, 32)
    """
    from photomend.video.reader import expected_frames, probe, read_frames
    from photomend.video.writer import check_output, write_like_source

    if mask is None and not auto:
        raise InputError("nothing to remove: give a mask (file, folder or array) or auto=CLASSES")
    if keep and not auto:
        raise InputError("keep needs auto (it keeps some of the instances auto finds)")
    if auto:
        from photomend.objects.classes import parse_classes

        auto = parse_classes(auto)
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise InputError(f"min_score must be between 0 and 1, got {min_score}")
    from photomend.api import check_engine

    check_engine(engine)
    source = Path(source)
    output = check_output(output, source, overwrite=overwrite)
    info = probe(source)
    size = (info.width, info.height)
    total = expected_frames(info, start, duration)
    first_index = round((start or 0.0) * float(info.fps)) if start else 0
    masks_for = _mask_source(mask, size, resize_mask, total, first_index, start, duration)
    started = time.perf_counter()

    tracks, kept, auto_shape, auto_count = [], set(), None, 0
    if auto:
        from photomend.video_removal.masks import kept_tracks, track_instances, track_masks

        times: list[float] = []

        def detect_frames() -> Iterator[np.ndarray]:
            for f in read_frames(source, start=start, duration=duration):
                times.append(f.time)
                yield f.rgb

        def tick(n: int) -> None:
            if progress is not None:
                progress("detect", n, max(total, n))

        tracks, auto_count, auto_shape = track_instances(detect_frames(), auto, grow=grow,
                                                         min_score=min_score, progress=tick)
        kept = kept_tracks(tracks, keep, times, auto_shape)

    def items(pts_queue: deque[int] | None = None,
              stage: str | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        auto_masks = (track_masks(tracks, auto_count, auto_shape, kept)
                      if auto_shape is not None else None)
        for n, f in enumerate(read_frames(source, start=start, duration=duration), start=1):
            if pts_queue is not None:
                pts_queue.append(f.pts)
            m = masks_for(f.index)
            if auto_masks is not None:
                extra = next(auto_masks, None)
                if extra is not None:
                    m = extra if m is None else (m | extra)
            if m is None:
                m = np.zeros(f.rgb.shape[:2], bool)
            yield f.rgb, m
            if stage is not None and progress is not None:
                progress(stage, n, max(total, n))

    background = None
    if camera != "moving":  # a first pass: the still camera's empty scene over the whole clip
        from photomend.video_removal.stream import clip_background

        background = clip_background(items(stage="scan"))
    pts_queue: deque[int] = deque()
    stats = FillStats()

    filled = fill_frames(items(pts_queue), radius=radius, camera=camera, engine=engine,
                         seed=seed, stats=stats, background=background)
    count, (h, w) = write_like_source(output, source, info, filled, pts_queue, start=start,
                                      duration=duration, crf=crf, preset=preset,
                                      overwrite=overwrite, progress=progress, total=total)
    return RemoveVideoResult(output=output, frames=count, width=w, height=h,
                             seconds=time.perf_counter() - started, stats=stats,
                             tracks=len(tracks), kept=len(kept))


def _mask_source(mask, size: tuple[int, int], resize: bool, total: int, first_index: int,
                 start, duration) -> Callable[[int], np.ndarray | None]:
    """frame index (from the first frame read) -> bool HxW mask, or None (no mask given)."""
    from photomend.io import read_mask

    if mask is None:
        return lambda index: None
    if isinstance(mask, np.ndarray):
        fixed = _array_mask(mask, size, resize)
        return lambda index: fixed
    path = Path(mask)
    if not path.exists():
        raise MaskError(f"{path}: no such mask file or folder")
    if not path.is_dir():
        fixed = read_mask(path, size=size, resize=resize)
        return lambda index: fixed
    from photomend.video_removal.masks import check_folder, numbered_masks

    files = numbered_masks(path)
    if total and start is None and duration is None:
        # (the header's frame count can be one off: the last frame is checked as it comes)
        check_folder(files, max(total - 1, 1))

    def load(index: int) -> np.ndarray:
        n = index + first_index
        p = files.get(n)
        if p is None:
            raise MaskError(f"{path}: no mask for frame {n + 1} (masks are matched by the "
                            "number at the end of their name, first frame 0 or 1)")
        return read_mask(p, size=size, resize=resize)

    return load


def _array_mask(mask: np.ndarray, size: tuple[int, int], resize: bool) -> np.ndarray:
    from photomend.io import read_mask

    mask = np.asarray(mask)
    if mask.ndim == 2 and mask.shape == (size[1], size[0]):
        return mask.astype(bool)
    if mask.dtype == bool:
        mask = mask.astype(np.uint8) * 255
    return read_mask(mask, size=size, resize=resize)


__all__ = ["RemoveVideoResult", "remove_video"]
