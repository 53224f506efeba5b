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
(``MASKS/clip.png`` or ``MASKS/clip/000000.png``). ``auto`` (instances found in every frame and
tracked) runs over the whole clip when it is planned, before the background, as in the whole-clip
run; its masks are kept in the work folder (``auto/``), so every segment removes the same
instances (``keep`` included).

>>> import tempfile
>>> logo = Path(tempfile.mkdtemp()) / "logo.png"; _ = logo.write_bytes(b"")
>>> op = remove_range(mask=logo, radius=12); (op.name, op.context)
('remove_video', 12)
"""

from __future__ import annotations

import copy
import json
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
#: ``auto``'s tracked masks of the whole clip, in the work folder.
AUTO, TRACKS = "auto", "tracks.json"
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
    auto: str | list[str] | None = None,
    keep: Any = (),
    grow: int | None = None,
    min_score: float | None = None,
    stats: FillStats | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Any:
    """:func:`photomend.video_removal.remove_video` as a :class:`~photomend.video.segments.
    RangeOp` (options checked here, masks per video when bound to a plan).

    ``auto`` (with ``keep``, ``grow``, ``min_score``): the instances are found and tracked over
    the whole clip when it is planned (the masks kept in the work folder, ``auto/``), so every
    segment removes what the whole-clip run removes. ``stats``: a :class:`FillStats` that gets
    the counts of the segments' own frames (context frames not counted). ``progress``:
    ``progress(stage, done, total)`` of the planning passes ("detect", "scan").

    >>> remove_range(keep=[(3, 4)])
    Traceback (most recent call last):
    ...
    photomend.errors.InputError: keep needs auto (it keeps some of the instances auto finds)
    """
    from photomend.api import check_engine
    from photomend.video.segments import RangeOp

    if keep and not auto:
        raise InputError("keep needs auto (it keeps some of the instances auto finds)")
    if mask is not None and mask_dir is not None:
        raise InputError("give mask (a file or a folder of numbered masks) or mask_dir (one per "
                         "video, named by its stem), not both")
    if mask is None and mask_dir is None and not auto:
        raise InputError("nothing to remove: give mask, mask_dir (in a batch job: or the job's "
                         "masks folder) or auto=CLASSES")
    classes = None
    if auto:
        from photomend.objects.classes import parse_classes

        classes = list(parse_classes(auto))
    if min_score is not None and not 0.0 <= float(min_score) <= 1.0:
        raise InputError(f"min_score must be between 0 and 1, got {min_score}")
    keep = [tuple(float(v) for v in point) for point in keep]
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
                "radius": radius, "seed": int(seed), "auto": classes, "keep": keep,
                "grow": grow, "min_score": min_score}
    total = stats if stats is not None else FillStats()

    def masks_of(plan) -> Callable[[int, tuple[int, int]], np.ndarray]:
        given = None
        if mask_path is not None or dir_path is not None:
            path = mask_path if mask_path is not None else _video_mask(dir_path, plan.source)
            given = _mask_loader(path, plan.total, bool(resize_mask))
        if not classes:
            return given
        found = _auto_loader(plan.work / AUTO)
        if given is None:
            return found
        return lambda index, hw: given(index, hw) | found(index, hw)

    def tick(stage: str):
        return None if progress is None else (lambda n, total: progress(stage, n, total))

    def prepare(plan) -> None:
        if classes:
            _track(plan, classes, keep, grow, min_score, tick("detect"))
        target = plan.work / BACKGROUND
        masks = masks_of(plan)  # the masks found, a folder checked for every frame
        if camera == "moving" or target.is_file():
            return
        from photomend.video.reader import read_frames

        step = tick("scan")

        def items():
            for f in read_frames(plan.source):
                yield f.rgb, masks(f.index, f.rgb.shape[:2])
                if step is not None:
                    step(f.index + 1, plan.total)

        bg = clip_background(items())
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
    mask: str | os.PathLike[str] | None = None,
    *,
    auto: str | list[str] | None = None,
    keep: Any = (),
    grow: int | None = None,
    min_score: float | None = None,
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
    ``mask``: a file (every frame) or a folder of masks numbered by frame; ``auto``, ``keep``,
    ``grow``, ``min_score`` as ``remove_video`` (tracked over the whole clip once). Output:
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
    op = remove_range(mask, auto=auto, keep=keep, grow=grow, min_score=min_score,
                      resize_mask=resize_mask, engine=engine, camera=camera, radius=radius,
                      seed=seed, stats=stats, progress=progress)
    started = time.perf_counter()
    plan = plan_segments(source, output, op, frames=frames, crf=crf, preset=preset,
                         overwrite=overwrite)
    for k, (_, last) in enumerate(plan.cuts):
        run_segment(plan, k, op)
        if progress is not None:
            progress("frames", last, plan.total)
    tracked = plan.work / AUTO / TRACKS
    counts = json.loads(tracked.read_text()) if tracked.is_file() else {}
    width, height = join_segments(plan, overwrite=overwrite)
    return RemoveVideoResult(output=plan.output, frames=plan.total, width=width, height=height,
                             seconds=time.perf_counter() - started, stats=stats,
                             tracks=counts.get("tracks", 0), kept=counts.get("kept", 0))


def _track(plan, classes, keep, grow, min_score, progress) -> None:
    """The tracked masks of ``classes`` in every frame of the clip, as numbered PNGs in
    ``plan.work / AUTO`` (written into a temporary folder, renamed when complete)."""
    import shutil

    import cv2

    from photomend.video.reader import read_frames
    from photomend.video_removal.masks import kept_tracks, track_instances, track_masks

    target = plan.work / AUTO
    if target.is_dir():
        return
    times: list[float] = []

    def frames() -> Iterator[np.ndarray]:
        for f in read_frames(plan.source):
            times.append(f.time)
            yield f.rgb

    tracks, count, shape = track_instances(
        frames(), classes, grow=grow, min_score=min_score,
        progress=None if progress is None else (lambda n: progress(n, max(plan.total, n))))
    kept = kept_tracks(tracks, keep, times, shape)
    tmp = plan.work / f".{AUTO}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for i, m in enumerate(track_masks(tracks, count, shape, kept)):
        cv2.imwrite(str(tmp / f"{i:06d}.png"), m.astype(np.uint8) * 255)
    (tmp / TRACKS).write_text(json.dumps({"tracks": len(tracks), "kept": len(kept)}))
    os.replace(tmp, target)


def _auto_loader(folder: Path) -> Callable[[int, tuple[int, int]], np.ndarray]:
    import cv2

    def load(index: int, hw: tuple[int, int]) -> np.ndarray:
        m = cv2.imread(str(folder / f"{index:06d}.png"), cv2.IMREAD_GRAYSCALE)
        if m is None:  # no frame of that number when tracked: nothing found there
            return np.zeros(hw, bool)
        return m > 0

    return load


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
