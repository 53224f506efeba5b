"""Where a video's masks come from: one mask for every frame, a folder of masks numbered by
frame, or people and objects found in each frame and tracked (:func:`track_instances`).

A tracked instance keeps one identity through the clip (its box overlaps its box of the
previous frames), frames where the detector missed it are bridged (its mask carried from the
frames on both sides, shifted with its box), and ``--keep X,Y@T`` spares a whole track.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photomend.errors import MaskError

MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Tracking: a detection continues the track whose last box overlaps it most, if IoU >= this.
TRACK_IOU = 0.25
#: Frames a track may be missed and still bridged.
MAX_GAP = 8


def numbered_masks(folder: str | os.PathLike[str]) -> dict[int, Path]:
    """{frame index (from 0): mask file} for the images in ``folder`` whose name ends in a
    number (``000012.png``, ``frame_12.png``, ``mask-0012.jpg``). Numbering from 1 (FFmpeg's
    ``%d``) is recognised when the folder has no 0: then ``1`` is the first frame."""
    folder = Path(folder)
    found: dict[int, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in MASK_SUFFIXES or not p.is_file():
            continue
        m = re.search(r"(\d+)\D*$", p.stem)
        if m is None:
            continue
        n = int(m.group(1))
        if n in found:
            raise MaskError(f"{folder}: two masks for frame number {n}: {found[n].name} and "
                            f"{p.name}")
        found[n] = p
    if not found:
        raise MaskError(f"{folder}: no numbered masks (expected names like 000000.png, "
                        "frame_12.png)")
    if 0 not in found:
        found = {n - 1: p for n, p in found.items()}
    return found


def describe_missing(numbers: Sequence[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"4-6, 10"`` (1-based frame numbers as players show them)."""
    parts, run = [], []
    for n in sorted(numbers):
        if run and n == run[-1] + 1:
            run.append(n)
            continue
        if run:
            parts.append(_span(run))
        run = [n]
    if run:
        parts.append(_span(run))
    if len(parts) > 8:
        parts = parts[:8] + [f"... ({len(numbers)} frames in all)"]
    return ", ".join(parts)


def _span(run: list[int]) -> str:
    return str(run[0] + 1) if len(run) == 1 else f"{run[0] + 1}-{run[-1] + 1}"


def check_folder(masks: dict[int, Path], frames: int) -> None:
    """MaskError naming the frames (1-based) of a ``frames``-long clip that have no mask."""
    missing = [i for i in range(frames) if i not in masks]
    if missing:
        raise MaskError(f"no mask for frame{'s' if len(missing) > 1 else ''} "
                        f"{describe_missing(missing)} of {frames} (masks are matched by the "
                        "number at the end of their name, first frame 0 or 1)")


# --- tracking --------------------------------------------------------------------------------
@dataclass
class TrackedMask:
    """One instance in one frame: its box and its (grown) mask cut to a bounding box, packed."""

    box: tuple[float, float, float, float]
    window: tuple[int, int, int, int]  # y0, y1, x0, x1 of `bits`
    bits: np.ndarray  # packed bool
    bridged: bool = False

    @classmethod
    def from_mask(cls, box, mask: np.ndarray, bridged: bool = False) -> TrackedMask:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            return cls(tuple(box), (0, 0, 0, 0), np.zeros(0, np.uint8), bridged)
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        return cls(tuple(box), (y0, y1, x0, x1), np.packbits(mask[y0:y1, x0:x1]), bridged)

    def paint(self, out: np.ndarray, dx: int = 0, dy: int = 0) -> None:
        """OR the mask (shifted by dx, dy) into ``out``."""
        y0, y1, x0, x1 = self.window
        if y1 <= y0:
            return
        part = np.unpackbits(self.bits, count=(y1 - y0) * (x1 - x0)).reshape(
            y1 - y0, x1 - x0).astype(bool)
        h, w = out.shape
        ty0, tx0 = y0 + dy, x0 + dx
        sy0, sx0 = max(0, -ty0), max(0, -tx0)
        ey, ex = min(y1 - y0, h - ty0), min(x1 - x0, w - tx0)
        if ey <= sy0 or ex <= sx0:
            return
        out[ty0 + sy0:ty0 + ey, tx0 + sx0:tx0 + ex] |= part[sy0:ey, sx0:ex]


@dataclass
class Track:
    id: int
    label: str
    #: frame index -> mask in that frame
    frames: dict[int, TrackedMask] = field(default_factory=dict)

    @property
    def last(self) -> int:
        return max(self.frames)


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def track_instances(frames: Iterator[np.ndarray], classes, *, grow: int | None = None,
                    min_score: float | None = None, max_gap: int = MAX_GAP,
                    progress: Callable[[int], None] | None = None) -> tuple[list[Track], int,
                                                                           tuple[int, int]]:
    """Find ``classes`` in every frame and link them into tracks (greedy IoU of boxes with the
    last box of each live track). Returns (tracks with gaps bridged, frame count, (h, w))."""
    from photomend.objects.api import DEFAULT_MIN_SCORE, find_objects, instance_masks

    score = DEFAULT_MIN_SCORE if min_score is None else min_score
    tracks: list[Track] = []
    n, shape = 0, (0, 0)
    for n, rgb in enumerate(frames, start=1):
        index = n - 1
        shape = rgb.shape[:2]
        found = find_objects(rgb, classes, min_score=score)
        live = [t for t in tracks if index - t.last <= max_gap + 1]
        pairs = sorted(((iou(inst.box, t.frames[t.last].box), k, j)
                        for k, inst in enumerate(found) for j, t in enumerate(live)
                        if inst.label == t.label), reverse=True)
        taken_i, taken_t = set(), set()
        for score_iou, k, j in pairs:
            if score_iou < TRACK_IOU or k in taken_i or j in taken_t:
                continue
            taken_i.add(k)
            taken_t.add(j)
            live[j].frames[index] = _tracked(found[k], grow, shape, instance_masks)
        for k, inst in enumerate(found):
            if k not in taken_i:
                tracks.append(Track(len(tracks), inst.label,
                                    {index: _tracked(inst, grow, shape, instance_masks)}))
        if progress is not None:
            progress(n)
    for t in tracks:
        bridge(t, max_gap)
    return tracks, n, shape


def _tracked(inst, grow, shape, instance_masks) -> TrackedMask:
    return TrackedMask.from_mask(inst.box, instance_masks([inst], grow, shape))


def bridge(track: Track, max_gap: int) -> None:
    """Fill the track's missed frames (gaps of at most ``max_gap``) with the masks of the
    frames on both sides, each shifted by the box centre's straight-line motion."""
    seen = sorted(track.frames)
    for a, b in zip(seen, seen[1:], strict=False):
        if b - a <= 1 or b - a - 1 > max_gap:
            continue
        ma, mb = track.frames[a], track.frames[b]
        ca, cb = _centre(ma.box), _centre(mb.box)
        for k in range(a + 1, b):
            f = (k - a) / (b - a)
            c = (ca[0] + f * (cb[0] - ca[0]), ca[1] + f * (cb[1] - ca[1]))
            y0 = min(ma.window[0], mb.window[0])
            y1 = max(ma.window[1], mb.window[1])
            x0 = min(ma.window[2], mb.window[2])
            x1 = max(ma.window[3], mb.window[3])
            pad = int(np.ceil(max(abs(cb[0] - ca[0]), abs(cb[1] - ca[1])))) + 1
            h, w = y1 - y0 + 2 * pad, x1 - x0 + 2 * pad
            local = np.zeros((h, w), bool)
            for m, cc in ((ma, ca), (mb, cb)):
                m.paint(local, int(round(c[0] - cc[0])) - x0 + pad,
                        int(round(c[1] - cc[1])) - y0 + pad)
            # back to frame coordinates: a TrackedMask with its own window
            rows, cols = np.flatnonzero(local.any(axis=1)), np.flatnonzero(local.any(axis=0))
            if rows.size == 0:
                continue
            ly0, ly1, lx0, lx1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            gy0, gx0 = ly0 + y0 - pad, lx0 + x0 - pad
            box = tuple(v + d for v, d in zip(ma.box, (c[0] - ca[0], c[1] - ca[1]) * 2,
                                              strict=True))
            track.frames[k] = TrackedMask(box, (int(gy0), int(gy0 + ly1 - ly0), int(gx0),
                                                int(gx0 + lx1 - lx0)),
                                          np.packbits(local[ly0:ly1, lx0:lx1]), bridged=True)


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def kept_tracks(tracks: Sequence[Track], keep, times: Sequence[float],
                shape: tuple[int, int]) -> set[int]:
    """Ids of the tracks under each ``keep`` point (x, y[, t seconds]) in the frame nearest t
    (default 0). MaskError when a point is outside the frame."""
    h, w = shape
    out: set[int] = set()
    for point in keep:
        x, y = float(point[0]), float(point[1])
        t = float(point[2]) if len(point) > 2 else 0.0
        if not (0 <= x < w and 0 <= y < h):
            raise MaskError(f"--keep point {x:g},{y:g} is outside the {w}x{h} frames")
        frame = int(np.argmin(np.abs(np.asarray(times) - t))) if len(times) else 0
        for tr in tracks:
            m = tr.frames.get(frame)
            if m is None:
                continue
            local = np.zeros((h, w), bool)
            m.paint(local)
            if local[int(y), int(x)]:
                out.add(tr.id)
    return out


def track_masks(tracks: Sequence[Track], frames: int, shape: tuple[int, int],
                skip: set[int] = frozenset()) -> Iterator[np.ndarray]:
    """The union mask of each frame, from the tracks not in ``skip``."""
    by_frame: dict[int, list[TrackedMask]] = {}
    for t in tracks:
        if t.id in skip:
            continue
        for k, m in t.frames.items():
            by_frame.setdefault(k, []).append(m)
    for k in range(frames):
        out = np.zeros(shape, bool)
        for m in by_frame.get(k, ()):
            m.paint(out)
        yield out
