"""Video removal in resumable segments (:mod:`photomend.video.segments`): ``photomend remove
CLIP --segments N`` and the batch step ``remove_video``.

Each segment is filled as the whole clip would be: its frames plus ``radius`` frames of context
on each side (the window every frame copies from), and the still camera's background, a median
of frames sampled over the *whole* clip, computed once per video when it is planned and kept in
its work folder (``background.npz``), so every segment fills from the same empty scene. What a
segment cannot know is what the frames before its context left behind: the running memory of
the last value seen and an invention carried from an earlier key frame (only for pixels that
neither the background nor the window ever saw); there a segment's first frames may differ from
the whole-clip run.

Masks: ``mask`` is one mask for every frame (a file) or a folder of masks numbered by frame in
the whole clip; ``mask_dir`` holds one of those per video, named by the video's stem
(``MASKS/clip.png`` or ``MASKS/clip/000000.png``). ``auto`` (masks found and tracked per frame)
is refused: the tracks run over the whole clip, which a segment does not see.

>>> import tempfile
>>> logo = Path(tempfile.mkdtemp()) / "logo.png"; _ = logo.write_bytes(b"")
>>> op = remove_range(mask=logo, radius=12); (op.name, op.context)
('remove_video', 12)
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from photomend.errors import InputError, MaskError
from photomend.video_removal.defaults import CAMERAS, DEFAULT_RADIUS
from photomend.video_removal.stream import Background, FillStats, clip_background, fill_frames

#: The still camera's background of the whole clip, in the work folder.
BACKGROUND = "background.npz"
MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def remove_range(
    mask: str | os.PathLike[str] | None = None,
    mask_dir: str | os.PathLike[str] | None = None,
    *,
    resize_mask: bool = False,
    engine: str = "patchmatch",
    camera: str = "auto",
    radius: int = DEFAULT_RADIUS,
    seed: int = 0,
    auto: Any = None,
    keep: Any = (),
    stats: FillStats | None = None,
) -> Any:
    """:func:`photomend.video_removal.remove_video` as a :class:`~photomend.video.segments.
    RangeOp` (options checked here, masks per video when bound to a plan).

    ``stats``: a :class:`FillStats` that gets the counts of the segments' own frames (context
    frames not counted).

    >>> remove_range(mask="m.png", auto="person")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    photomend.errors.InputError: auto masks are tracked over the whole clip and cannot be ...
    """
    from photomend.api import check_engine
    from photomend.video.segments import RangeOp

    if auto:
        raise InputError("auto masks are tracked over the whole clip and cannot be cut into "
                         "segments: run without segments, or give mask/mask_dir")
    if keep:
        raise InputError("keep needs auto, which segments do not take")
    if (mask is None) == (mask_dir is None):
        raise InputError("remove_video needs mask (a file or a folder of numbered masks) or "
                         "mask_dir (one per video, named by its stem), not both")
    if camera not in CAMERAS:
        raise InputError(f"camera must be one of {', '.join(CAMERAS)}, got {camera!r}")
    radius = int(radius)
    if radius < 1:
        raise InputError(f"radius must be at least 1, got {radius}")
    check_engine(engine)
    mask_path = Path(mask).resolve() if mask is not None else None
    dir_path = Path(mask_dir).resolve() if mask_dir is not None else None
    for p, what in ((mask_path, "mask"), (dir_path, "mask_dir")):
        if p is not None and not p.exists():
            raise MaskError(f"{what} {p}: no such file or folder")
    if dir_path is not None and not dir_path.is_dir():
        raise MaskError(f"mask_dir {dir_path} is not a folder")
    settings = {"mask": None if mask_path is None else str(mask_path),
                "mask_dir": None if dir_path is None else str(dir_path),
                "resize_mask": bool(resize_mask), "engine": engine, "camera": camera,
                "radius": radius, "seed": int(seed)}
    total = stats if stats is not None else FillStats()

    def masks_of(plan) -> Callable[[int, tuple[int, int]], np.ndarray]:
        path = mask_path if mask_path is not None else _video_mask(dir_path, plan.source)
        return _mask_loader(path, plan.total, bool(resize_mask))

    def prepare(plan) -> None:
        target = plan.work / BACKGROUND
        masks = masks_of(plan)  # the masks found, a folder checked for every frame
        if camera == "moving" or target.is_file():
            return
        from photomend.video.reader import read_frames

        bg = clip_background((f.rgb, masks(f.index, f.rgb.shape[:2]))
                             for f in read_frames(plan.source))
        tmp = plan.work / f".{BACKGROUND}.tmp.npz"
        if bg is None:
            np.savez(tmp, none=np.array(True))
        else:
            np.savez(tmp, none=np.array(False), rgb=bg.rgb, seen=bg.seen,
                     samples=np.array(bg.samples))
        os.replace(tmp, target)

    def bind(plan) -> RangeOp:
        masks = masks_of(plan)
        background = _load_background(plan.work / BACKGROUND) if camera != "moving" else None

        def run(frames, skip: int) -> Iterator[np.ndarray]:
            local = FillStats()
            items = ((f.rgb, masks(f.index, f.rgb.shape[:2])) for f in frames)
            base = copy.deepcopy(local)
            for i, out in enumerate(fill_frames(items, radius=radius, camera=camera,
                                                engine=engine, seed=int(seed), stats=local,
                                                background=background)):
                if i >= skip:  # a frame of the segment: its counts go to `total`
                    _add(total, local, base)
                    yield out
                base = copy.deepcopy(local)

        return replace(op, run=run, bind=None, prepare=None)

    def unbound(frames, skip: int) -> Iterator[np.ndarray]:
        raise InputError("remove_video runs on a segment plan (photomend.video.segments)")

    op = RangeOp("remove_video", settings, radius, unbound, prepare=prepare, bind=bind)
    return op


def remove_video_segments(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    mask: str | os.PathLike[str],
    *,
    frames: int = 250,
    resize_mask: bool = False,
    engine: str = "patchmatch",
    camera: str = "auto",
    radius: int = DEFAULT_RADIUS,
    seed: int = 0,
    crf: int = 18,
    preset: str = "medium",
    overwrite: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> Any:
    """:func:`photomend.video_removal.remove_video` in segments of ``frames`` frames that
    survive a crash (rerun the same call to resume; the background pass is not redone).
    ``mask``: a file (every frame) or a folder of masks numbered by frame. Output:
    .mp4/.mov/.mkv. Returns a :class:`~photomend.video_removal.api.RemoveVideoResult` whose
    stats count the segments run by this call.

    >>> import tempfile
    >>> from photomend.video.writer import write_video
    >>> d = Path(tempfile.mkdtemp())
    >>> write_video(d / "in.mp4", (np.full((32, 48, 3), 0.5, np.float32) for _ in range(6)),
    ...             fps=8)
    >>> import cv2; m = np.zeros((32, 48), np.uint8); m[2:8, 2:12] = 255
    >>> _ = cv2.imwrite(str(d / "logo.png"), m)
    >>> r = remove_video_segments(d / "in.mp4", d / "out.mp4", d / "logo.png", frames=4)
    >>> (r.frames, r.width, r.height, r.stats.frames)
    (6, 48, 32, 6)
    """
    import time

    from photomend.video.segments import join_segments, plan_segments, run_segment
    from photomend.video_removal.api import RemoveVideoResult

    stats = FillStats()
    op = remove_range(mask, resize_mask=resize_mask, engine=engine, camera=camera,
                      radius=radius, seed=seed, stats=stats)
    started = time.perf_counter()
    plan = plan_segments(source, output, op, frames=frames, crf=crf, preset=preset,
                         overwrite=overwrite)
    for k, (_, last) in enumerate(plan.cuts):
        run_segment(plan, k, op)
        if progress is not None:
            progress("frames", last, plan.total)
    width, height = join_segments(plan, overwrite=overwrite)
    return RemoveVideoResult(output=plan.output, frames=plan.total, width=width, height=height,
                             seconds=time.perf_counter() - started, stats=stats)


def _video_mask(folder: Path, source: Path) -> Path:
    """``folder/<stem>/`` or ``folder/<stem>.<image suffix>``: the masks of ``source``."""
    sub = folder / source.stem
    if sub.is_dir():
        return sub
    for suffix in MASK_SUFFIXES:
        for name in (source.stem + suffix, source.stem + suffix.upper()):
            if (folder / name).is_file():
                return folder / name
    raise MaskError(f"{folder}: no mask for {source.name} (expected {source.stem}.png or a "
                    f"folder {source.stem}/ of numbered masks)")


def _mask_loader(path: Path, total: int,
                 resize: bool) -> Callable[[int, tuple[int, int]], np.ndarray]:
    """frame number in the whole clip, (h, w) -> bool mask. A folder is checked for every
    frame up front (the missing ones named)."""
    from photomend.io import read_mask
    from photomend.video_removal.masks import check_folder, numbered_masks

    if not path.is_dir():
        cache: dict[tuple[int, int], np.ndarray] = {}

        def fixed(index: int, hw: tuple[int, int]) -> np.ndarray:
            if hw not in cache:
                cache[hw] = read_mask(path, size=(hw[1], hw[0]), resize=resize)
            return cache[hw]

        return fixed
    files = numbered_masks(path)
    check_folder(files, total)

    def load(index: int, hw: tuple[int, int]) -> np.ndarray:
        return read_mask(files[index], size=(hw[1], hw[0]), resize=resize)

    return load


def _load_background(path: Path) -> Background | None:
    if not path.is_file():
        raise InputError(f"{path} is missing: plan the segments again (run the job again)")
    with np.load(path) as data:
        if bool(data["none"]):
            return None
        return Background(data["rgb"], data["seen"], int(data["samples"]))


def _add(total: FillStats, now: FillStats, before: FillStats) -> None:
    """``total += now - before`` (counts; key frames appended)."""
    for f in fields(FillStats):
        a, b = getattr(now, f.name), getattr(before, f.name)
        if isinstance(a, list):
            getattr(total, f.name).extend(a[len(b):])
        else:
            setattr(total, f.name, getattr(total, f.name) + a - b)


__all__ = ["BACKGROUND", "remove_range", "remove_video_segments"]
