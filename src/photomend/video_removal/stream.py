"""Streaming video removal: frames and masks in, filled frames out, one window in memory.

:func:`fill_frames` keeps ``2 * radius + 1`` frames (the one being filled, ``radius`` before
and ``radius`` after). For each frame it decides whether the camera is still over that window
(low-resolution flow between consecutive frames, outside the masks) and fills the hole:

- still camera with the clip's background (:func:`clip_background`: the per-pixel median of
  frames sampled over the whole clip where the pixel is not masked; an earlier pass): that
  background, put in this frame's light (:func:`photomend.video_removal.fill.light_gain`:
  a smooth gain of frame over background measured around the hole). A median of ~100 frames
  carries almost none of one frame's sensor and compression noise, so the fill neither
  flickers nor differs from the empty scene by that noise. A hole whose surroundings mostly
  differ from the background (something parked or standing there now:
  :func:`photomend.video_removal.fill.changed_around`) is filled from the window instead;
- otherwise from the window (:mod:`photomend.video_removal.fill`): the window's temporal median
  (still camera) or the nearest frame that saw each pixel, aligned by optical flow (moving).

It invents only what none of those saw:

1. still camera: the last value seen there (a running background memory);
2. pixels the previous output had already filled (carried by the flow, or in place for a still
   camera): the same content again, so an invention does not flicker;
3. the rest (the first frame of a region nobody sees): the image engine
   (:func:`photomend.remove_array`), once, on this frame; later frames carry its result.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from photomend.errors import InputError, MaskError
from photomend.video.flow import dis_flow, gray_u8
from photomend.video_removal import fill
from photomend.video_removal.defaults import CAMERAS, DEFAULT_RADIUS

#: The window's frames (float32) take at most about this much memory.
WINDOW_BYTES = 1536 << 20
#: Moving camera: the neighbours (offsets within the radius) aligned by flow, nearest first.
NEIGHBOUR_OFFSETS = (1, -1, 2, -2, 4, -4, 8, -8, 12, -12, 16, -16, 24, -24)
#: Still camera: every consecutive pair of the window moves less than STILL_PX (full-resolution
#: px, median over the unmasked pixels) and the window drifts less than DRIFT_PX in all, and at
#: most STILL_FRACTION of the unmasked pixels move more than MOVING_PX.
STILL_PX, DRIFT_PX, MOVING_PX, STILL_FRACTION = 0.25, 1.0, 1.0, 0.2
#: Still camera with a clip background: a window median needs this many frames seeing the
#: pixel (fewer: a person lingering there, whose edges and shadow leak past the mask).
MIN_SEEN = 5
#: A cut: the mean absolute difference of two consecutive frames' luma (0-255, outside the
#: masks, at the flow's size) exceeds CUT_DIFF.
CUT_DIFF = 20.0
#: The previous output is carried into what no frame saw only while it still matches the frame
#: on a ring of CARRY_RING px around that region (median absolute difference, 0-1: an object
#: passing by does not count); otherwise the image engine fills it again (a new key frame).
CARRY_RING, CARRY_TOLERANCE = 3, 0.06


@dataclass
class FillStats:
    """What :func:`fill_frames` did, updated as it goes."""

    frames: int = 0
    #: frames with a non-empty mask
    filled: int = 0
    static_frames: int = 0
    moving_frames: int = 0
    #: hole pixels (all frames): copied from other frames (the clip's background included) /
    #: from the running background memory /
    #: carried from the previous output / invented by the image engine
    copied: int = 0
    remembered: int = 0
    carried: int = 0
    invented: int = 0
    #: frames on which the image engine ran
    key_frames: list[int] = field(default_factory=list)


@dataclass
class _Entry:
    index: int
    rgb: np.ndarray
    mask: np.ndarray
    small: np.ndarray  # uint8 gray at the flow's size
    small_mask: np.ndarray
    #: motion from the previous entry: (median dx, median dy, fraction moving), full-res px
    motion: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: shot number: a cut (or a fade from black) between two frames starts a new one
    shot: int = 0


def fill_frames(
    items: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    radius: int = DEFAULT_RADIUS,
    camera: str = "auto",
    engine: str = "patchmatch",
    seed: int = 0,
    stats: FillStats | None = None,
    background: Background | None = None,
) -> Iterator[np.ndarray]:
    """Fill each frame's mask from the other frames (streaming; one output per input, in order).

    Parameters
    ----------
    items : (rgb, mask) pairs: float32 HxWx3 in [0, 1] and bool HxW (True = remove), all of
        one size.
    radius : frames each side the fill may copy from (memory: ``2 * radius + 1`` frames; fewer
        when they would take more than WINDOW_BYTES: 7 each side for 4K).
    camera : "auto" (decided per window), "static" (temporal median) or "moving" (flow).
    engine : image engine for what no frame saw (see ``photomend engines``).
    stats : a :class:`FillStats` to update.
    background : the clip's background (:func:`clip_background`), used for what a still
        window did not see.

    Pixels outside a frame's mask are returned untouched (the same float values).

    >>> import numpy as np
    >>> bg = np.random.default_rng(0).random((24, 32, 3), dtype=np.float32)
    >>> def clip():
    ...     for i in range(6):
    ...         f, m = bg.copy(), np.zeros((24, 32), bool)
    ...         m[8:16, 4 * i:4 * i + 6] = True; f[m] = 1.0
    ...         yield f, m
    >>> out = list(fill_frames(clip(), radius=3))
    >>> float(np.abs(out[2] - bg).max()) < 1e-6
    True
    """
    if camera not in CAMERAS:
        raise InputError(f"camera must be one of {', '.join(CAMERAS)}, got {camera!r}")
    if radius < 1:
        raise InputError(f"radius must be at least 1, got {radius}")
    state = _Filler(radius=radius, camera=camera, engine=engine, seed=seed,
                    stats=stats if stats is not None else FillStats())
    state.background = background
    window: deque[_Entry] = deque()
    pos = 0  # index in `window` of the next frame to fill
    for index, (rgb, mask) in enumerate(items):
        entry = state.entry(index, rgb, mask, window[-1] if window else None)
        if index == 0:  # large frames: a smaller window (memory)
            radius = max(1, min(radius, WINDOW_BYTES // (2 * entry.rgb.nbytes)))
            state.radius = radius
        window.append(entry)
        while len(window) - 1 - pos >= radius:
            yield state.fill(window, pos)
            pos += 1
            while pos > radius:
                window.popleft()
                pos -= 1
    while pos < len(window):
        yield state.fill(window, pos)
        pos += 1


class _Filler:
    def __init__(self, *, radius: int, camera: str, engine: str, seed: int,
                 stats: FillStats) -> None:
        self.radius, self.camera, self.engine, self.seed = radius, camera, engine, seed
        self.stats = stats
        self.size: tuple[int, int] | None = None
        self.scale = 1.0
        self.memory: np.ndarray | None = None  # last value seen per pixel (still camera)
        self.remembered: np.ndarray | None = None  # where memory holds a value
        self.prev_out: np.ndarray | None = None
        self.prev_static = False
        self.background: Background | None = None
        self.prev_shot = 0

    # --- entering the window -------------------------------------------------------------
    def entry(self, index: int, rgb: np.ndarray, mask: np.ndarray, prev: _Entry | None) -> _Entry:
        rgb = np.asarray(rgb)
        mask = np.asarray(mask, bool)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InputError(f"frame {index + 1}: expected HxWx3 RGB, got shape {rgb.shape}")
        if mask.shape != rgb.shape[:2]:
            raise MaskError(f"frame {index + 1}: the mask is {mask.shape[1]}x{mask.shape[0]} but "
                            f"the frame is {rgb.shape[1]}x{rgb.shape[0]} (width x height)")
        if self.size is None:
            self.size = rgb.shape[:2]
            self.scale = max(1.0, rgb.shape[1] / fill.FLOW_WIDTH)
        elif rgb.shape[:2] != self.size:
            raise InputError(f"frame {index + 1} is {rgb.shape[1]}x{rgb.shape[0]}, the first was "
                             f"{self.size[1]}x{self.size[0]}")
        rgb = rgb.astype(np.float32, copy=False)
        h, w = self.size
        sw, sh = max(8, round(w / self.scale)), max(8, round(h / self.scale))
        gray = gray_u8(rgb)
        small = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_AREA) if self.scale > 1 \
            else gray
        small_mask = cv2.resize(mask.astype(np.float32), (sw, sh),
                                interpolation=cv2.INTER_AREA) > 0 if self.scale > 1 else mask
        entry = _Entry(index, rgb, mask, small, small_mask)
        if prev is not None:
            if is_cut(prev, entry):
                entry.shot = prev.shot + 1
            else:
                entry.shot = prev.shot
                entry.motion = self._motion(prev, entry)
        return entry

    def _motion(self, a: _Entry, b: _Entry) -> tuple[float, float, float]:
        if self.camera != "auto":
            return (0.0, 0.0, 0.0)
        flow = dis_flow(a.small, b.small) * np.float32(self.scale)
        ok = ~(a.small_mask | b.small_mask)
        if ok.sum() < 16:
            return (0.0, 0.0, 0.0)
        v = flow[ok]
        med = np.median(v, axis=0)
        moving = float((np.hypot(v[:, 0], v[:, 1]) > MOVING_PX).mean())
        return float(med[0]), float(med[1]), moving

    def _still(self, window: list[_Entry]) -> bool:
        if self.camera != "auto":
            return self.camera == "static"
        x = y = 0.0
        for e in window[1:]:
            dx, dy, moving = e.motion
            if np.hypot(dx, dy) > STILL_PX or moving > STILL_FRACTION:
                return False
            x, y = x + dx, y + dy
            if np.hypot(x, y) > DRIFT_PX:
                return False
        return True

    # --- filling -------------------------------------------------------------------------
    def fill(self, window: deque[_Entry], pos: int) -> np.ndarray:
        cur = window[pos]
        # only the frames of the same shot: nothing is copied across a cut
        first = next(k for k, e in enumerate(window) if e.shot == cur.shot)
        window = [e for e in window if e.shot == cur.shot]
        pos -= first
        if cur.shot != self.prev_shot:
            self.memory = self.remembered = self.prev_out = None
            self.prev_shot = cur.shot
        st = self.stats
        st.frames += 1
        still = self._still(window)
        if not cur.mask.any():
            out = cur.rgb
        else:
            st.filled += 1
            if still:
                st.static_frames += 1
            else:
                st.moving_frames += 1
            out = self._fill_hole(window, pos, still)
        if still:
            if self.memory is None or not self.prev_static:
                self.memory = cur.rgb.copy()
                self.remembered = ~cur.mask
            else:
                vis = ~cur.mask
                self.memory[vis] = cur.rgb[vis]
                self.remembered |= vis
        else:
            self.memory = self.remembered = None
        self.prev_static = still
        self.prev_out = out
        return out

    def _fill_hole(self, window: deque[_Entry], pos: int, still: bool) -> np.ndarray:
        cur = window[pos]
        hole = cur.mask
        ring = fill.ring_of(hole)
        region = hole | ring
        ys, xs = np.nonzero(region)
        others = [e for k, e in enumerate(window) if k != pos]
        flows: dict[int, np.ndarray] = {}

        def flow_to(off: int) -> np.ndarray:
            if off not in flows:
                e = window[pos + off]
                small = fill.completed_flow(cur.small, e.small, cur.small_mask, self.scale,
                                            e.small_mask)
                flows[off] = fill.upscale_flow(small, self.size, self.scale)
            return flows[off]

        def sources():  # nearest first, each flow computed only if pixels are still missing
            for off in NEIGHBOUR_OFFSETS:
                k = pos + off
                if abs(off) <= self.radius and 0 <= k < len(window):
                    yield window[k].rgb, window[k].mask, flow_to(off)

        bg = self.background if still else None
        if bg is not None and bg.rgb.shape[:2] != hole.shape:
            bg = None
        estimate = np.zeros_like(cur.rgb)
        seen = np.zeros(len(ys), bool)
        if bg is not None:  # the clip's background, in this frame's light
            gain = fill.light_gain(
                cur.rgb, bg.rgb, fill.ring_of(hole, fill.LIGHT_BAND) | hole | ~bg.seen,
                sigma=fill.LIGHT_SIGMA * hole.shape[0])
            expected = np.clip(bg.rgb * gain, 0.0, 1.0)
            # where the scene around the hole has changed since, the window's frames instead
            changed = fill.changed_around(cur.rgb, expected, hole, bg.seen)
            seen = bg.seen[ys, xs] & ~changed[ys, xs]
            estimate[ys[seen], xs[seen]] = expected[ys[seen], xs[seen]]
        from_bg = seen.copy()
        todo = np.flatnonzero(~seen)
        if todo.size:  # what the background never saw: the window
            if still:
                est, got = fill.static_estimate(
                    ys[todo], xs[todo], [e.rgb for e in others], [e.mask for e in others],
                    min_count=MIN_SEEN if self.background is not None else 1)
            else:
                est, got = fill.flow_estimate(ys[todo], xs[todo], sources())
            estimate[ys[todo[got]], xs[todo[got]]] = est[got]
            seen[todo[got]] = True
        in_hole = hole[ys, xs]
        self.stats.copied += int((seen & in_hole).sum())
        unseen = np.zeros_like(hole)
        unseen[ys[~seen & in_hole], xs[~seen & in_hole]] = True
        if unseen.any():
            prev_flow = flow_to(-1) if not still and pos > 0 else None
            self._unseen(cur, unseen, estimate, still, prev_flow, window, pos)
        ring_ok = np.zeros_like(hole)
        ring_ok[ys[seen & ~in_hole], xs[seen & ~in_hole]] = True
        if bg is None:
            return fill.blend(cur.rgb, hole, estimate, ring_ok)
        # the background's pixels (in this frame's light), their edge met to what surrounds
        # them; the rest of the hole matched to what surrounds it
        done = np.zeros_like(hole)
        done[ys[from_bg & in_hole], xs[from_bg & in_hole]] = True
        ring_bg = np.zeros_like(hole)
        ring_bg[ys[from_bg & ~in_hole], xs[from_bg & ~in_hole]] = True
        out = fill.seam_blend(cur.rgb, done, estimate, ring_bg)
        rest = hole & ~done
        if not rest.any():
            return out
        estimate[done] = out[done]
        return fill.blend(out, rest, estimate, fill.ring_of(rest) & (ring_ok | done))

    def _from_prev(self, ys: np.ndarray, xs: np.ndarray,
                   flow: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The previous output at the pixels (ys, xs) of this frame (moved by ``flow``, this
        frame -> the previous one), and which of them fall inside it."""
        if flow is None:
            return self.prev_out[ys, xs], np.ones(len(ys), bool)
        h, w = self.size
        qx = xs + flow[ys, xs, 0]
        qy = ys + flow[ys, xs, 1]
        ok = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        out = np.zeros((len(ys), 3), np.float32)
        out[ok] = fill.bilinear(self.prev_out, qx[ok], qy[ok])
        return out, ok

    def _unseen(self, cur: _Entry, unseen: np.ndarray, estimate: np.ndarray, still: bool,
                prev_flow: np.ndarray | None, window, pos: int) -> None:
        """Fill ``estimate`` where ``unseen``: the last value seen there (still camera), the
        previous output, or the image engine (in that order)."""
        st = self.stats
        if still and self.remembered is not None:
            take = unseen & self.remembered
            estimate[take] = self.memory[take]
            st.remembered += int(take.sum())
            unseen = unseen & ~take
        if unseen.any() and self.prev_out is not None and pos > 0 \
                and window[pos - 1].index == cur.index - 1:
            flow = None if still else prev_flow
            check = fill.ring_of(unseen, CARRY_RING) & ~cur.mask
            cy, cx = np.nonzero(check)
            before, ok_check = self._from_prev(cy, cx, flow)
            if ok_check.sum() < 8 or float(np.median(np.abs(before[ok_check] - cur.rgb[
                    cy[ok_check], cx[ok_check]]).mean(axis=1))) <= CARRY_TOLERANCE:
                uy, ux = np.nonzero(unseen)
                values, ok = self._from_prev(uy, ux, flow)
                estimate[uy[ok], ux[ok]] = values[ok]
                st.carried += int(ok.sum())
                unseen = np.zeros_like(unseen)
                unseen[uy[~ok], ux[~ok]] = True
        if unseen.any():
            from photomend.removal import remove_array

            if unseen.all():
                raise MaskError(f"frame {cur.index + 1}: the mask covers the whole frame and no "
                                "other frame within reach shows what is behind it")
            composite = cur.rgb.copy()
            known_hole = cur.mask & ~unseen
            composite[known_hole] = estimate[known_hole]
            filled = remove_array(composite, unseen, engine=self.engine, seed=self.seed)
            estimate[unseen] = filled[unseen]
            st.invented += int(unseen.sum())
            st.key_frames.append(cur.index)


def is_cut(a: _Entry, b: _Entry) -> bool:
    """Whether ``b`` starts a new shot after ``a``."""
    ok = ~(a.small_mask | b.small_mask)
    if ok.sum() < 16:
        return False
    diff = np.abs(a.small.astype(np.int16) - b.small.astype(np.int16))[ok]
    return float(diff.mean()) > CUT_DIFF


@dataclass(frozen=True)
class Background:
    """A still camera's empty scene: ``rgb`` (HxWx3 float32) valid where ``seen``."""

    rgb: np.ndarray
    seen: np.ndarray
    samples: int


#: :func:`clip_background` keeps at most this many sampled frames (and this many bytes).
BACKGROUND_SAMPLES, BACKGROUND_BYTES = 64, 384 << 20


def clip_background(items: Iterable[tuple[np.ndarray, np.ndarray]], *,
                    samples: int = BACKGROUND_SAMPLES) -> Background | None:
    """One pass over (rgb, mask) pairs: the per-pixel median, over frames sampled evenly through
    the clip, of the pixels their masks leave visible; None when the camera moves (a sample's
    low-resolution flow to the first one, outside the masks, exceeds DRIFT_PX) or the clip has no
    frames. Memory: at most ``2 * samples`` frames as uint8 (fewer for large frames)."""
    keep: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    stride, cap = 1, 2 * samples
    last = None
    filler = _Filler(radius=1, camera="static", engine="", seed=0, stats=FillStats())
    for index, (rgb, mask) in enumerate(items):
        if index == 0:
            per = rgb.shape[0] * rgb.shape[1] * 3
            cap = max(4, min(cap, BACKGROUND_BYTES // per))
        e = filler.entry(index, rgb, mask, None)
        if last is not None and is_cut(last, e):
            return None  # several shots: no one background
        last = e
        if index % stride:
            continue
        keep.append(((np.clip(e.rgb, 0, 1) * 255 + 0.5).astype(np.uint8), e.mask, e.small,
                     e.small_mask))
        if len(keep) >= cap:
            keep, stride = keep[::2], stride * 2
    if not keep:
        return None
    first = keep[0]
    for _, _, small, small_mask in keep[1:]:
        flow = dis_flow(first[2], small) * np.float32(filler.scale)
        ok = ~(first[3] | small_mask)
        if ok.sum() >= 16 and np.hypot(*np.median(flow[ok], axis=0)) > DRIFT_PX:
            return None
    h, w = keep[0][1].shape
    out = np.zeros((h, w, 3), np.float32)
    seen = np.zeros((h, w), bool)
    rows = max(1, (8 << 20) // (len(keep) * w * 3 * 4))
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        stack = np.stack([k[0][y0:y1] for k in keep]).astype(np.float32) / 255
        hidden = np.stack([k[1][y0:y1] for k in keep])
        stack[hidden] = np.nan
        vis = ~hidden.all(axis=0)
        seen[y0:y1] = vis
        if vis.any():
            out[y0:y1][vis] = fill.nan_median(stack[:, vis])
    return Background(out, seen, len(keep))


__all__ = ["Background", "CAMERAS", "DEFAULT_RADIUS", "FillStats", "clip_background",
           "fill_frames"]
