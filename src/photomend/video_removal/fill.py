"""Filling one frame's hole from the frames around it (pure functions on arrays).

Each hole pixel takes what the other frames saw there:

- **still camera with the clip's background** (the caller's): that background times the
  frame's light gain against it (:func:`light_gain`), its edge met to the frame around the
  hole (:func:`seam_blend`); where the scene around a hole has changed since
  (:func:`changed_around`), the window instead;
- **still camera** (:func:`static_estimate`): the per-pixel median of the window's frames in
  which that pixel is not masked, a robust temporal background;
- **moving camera** (:func:`flow_estimate`): each neighbour is aligned to the frame by
  OpenCV DIS optical flow, completed inside the hole by diffusion (flow is smooth, colour is
  not), and each pixel takes the nearest neighbour (in time) that saw it.

A window estimate is then matched to the frame's own brightness (:func:`blend`): the
difference frame - estimate on a ring just outside the hole is diffused into the hole and
added (a membrane / Poisson-style correction), so exposure changes between frames leave no
seam.

What no frame saw is left to the caller (:mod:`photomend.video_removal.stream`): it carries
the previous output, or runs the image engine once.

>>> import numpy as np
>>> v = np.zeros((8, 8, 1), np.float32); v[:, :4] = 1.0
>>> known = np.ones((8, 8), bool); known[2:6, 2:6] = False
>>> out = diffuse(v, known)
>>> bool(out[3, 0, 0] == 1.0 and 0.0 < out[3, 4, 0] < 1.0)
True
"""

from __future__ import annotations

import cv2
import numpy as np

from photomend.video.flow import dis_flow

#: Width of the ring outside the hole (px) whose difference to the estimate is diffused in.
RING = 4
#: Flow is computed on frames no wider than this (then scaled up): DIS on 640x360 costs
#: 4x the time at 320x180 and the hole's flow is a diffused guess anyway.
FLOW_WIDTH = 480
#: A neighbour's flow is trusted this far (px, at the flow's scale) from the frame's hole.
FLOW_HOLE_MARGIN = 4
#: Pixels at the frame's edge whose flow is not trusted; neighbourhood (px) of the hole whose
#: flow fits the camera's affine motion.
FLOW_EDGE, FIT_RADIUS = 3, 48
#: Still camera with a clip background (:func:`light_gain`): the frame's light against the
#: background is a smooth gain (Gaussian sums, sigma LIGHT_SIGMA x the frame's height) over the
#: pixels more than LIGHT_BAND px outside the hole that differ by less than LIGHT_OUTLIER (0-1;
#: what the mask missed, a shadow, a passer-by do not count). Chosen on vtest.avi frames 0-399
#: (sigma 1/36 and 1/9 of the height, band 8, no outlier limit, an additive field tried).
#: GAIN_LIMIT bounds the gain (a safety bound, not tuned).
LIGHT_SIGMA, LIGHT_BAND, LIGHT_OUTLIER, GAIN_LIMIT = 1 / 18, 4, 0.06, 2.0
#: :func:`seam_blend`: the ring's difference is smoothed along the ring (Gaussian, SEAM_SIGMA px)
#: and fades into the hole as exp(-(d - 1) / SEAM_TAU), d px from its edge. Chosen on vtest.avi
#: frames 0-399 by looking at 1:1 crops (no feathering: the codec's darker blocks around a
#: walker leave a lighter patch where it was; tau 3-12 and sigma 0, 4, 8 tried).
SEAM_SIGMA, SEAM_TAU = 8.0, 6.0
#: :func:`changed_around`: a hole's surroundings (SCENE_BAND px outside it) count as changed
#: when more than SCENE_CHANGED of them differ from the background by LIGHT_OUTLIER. Not tuned:
#: on vtest.avi frames 0-399 the largest share around a hole is 0.28 (never triggered there).
SCENE_BAND, SCENE_CHANGED = (4, 8), 0.5


def diffuse(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``values`` (HxWxC float32) with the pixels where ``known`` is False filled smoothly from
    the known ones (push-pull: a weighted pyramid down, then filled up). Known pixels keep
    their values; a copy is returned. All unknown: zeros."""
    values = np.asarray(values, np.float32)
    squeeze = values.ndim == 2
    if squeeze:
        values = values[..., None]
    w = known.astype(np.float32)
    if w.all():
        out = values.copy()
        return out[..., 0] if squeeze else out
    levels = [(values * w[..., None], w)]
    while max(levels[-1][1].shape) > 1 and levels[-1][1].min() < 1e-3:
        vw, ww = levels[-1]
        h, wd = ww.shape
        size = (max(1, (wd + 1) // 2), max(1, (h + 1) // 2))
        v2 = cv2.resize(vw, size, interpolation=cv2.INTER_AREA)
        w2 = cv2.resize(ww, size, interpolation=cv2.INTER_AREA)
        if v2.ndim == 2:
            v2 = v2[..., None]
        levels.append((v2, w2))
    # coarsest level: normalised averages; a cell with nothing known: the mean of all
    vw, ww = levels[-1]
    cur = vw / np.maximum(ww, 1e-8)[..., None]
    empty = ww <= 1e-8
    if empty.any():
        total = float(ww.sum())
        cur[empty] = (vw.reshape(-1, vw.shape[2]).sum(axis=0) / total) if total > 0 else 0.0
    for vw, ww in reversed(levels[:-1]):
        h, wd = ww.shape
        up = cv2.resize(cur, (wd, h), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        a = np.clip(ww * 4.0, 0.0, 1.0)[..., None]  # partly known cells: mostly their own mean
        own = vw / np.maximum(ww, 1e-8)[..., None]
        cur = a * own + (1.0 - a) * up
    out = np.where(known[..., None], values, cur).astype(np.float32)
    return out[..., 0] if squeeze else out


def ring_of(hole: np.ndarray, width: int = RING) -> np.ndarray:
    """The pixels within ``width`` px outside ``hole``."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return cv2.dilate(hole.astype(np.uint8), k).astype(bool) & ~hole


def static_estimate(ys: np.ndarray, xs: np.ndarray, frames, masks, *,
                    min_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Median over ``frames`` (HxWx3 each) of the pixels (ys, xs), counting only the frames
    whose mask is False there. Returns (values Px3 float32, seen P bool: seen in at least
    ``min_count`` frames)."""
    p = len(ys)
    if p == 0:
        return np.zeros((0, 3), np.float32), np.zeros(0, bool)
    vals = np.empty((len(frames), p, 3), np.float32)
    for k, (rgb, m) in enumerate(zip(frames, masks, strict=True)):
        vals[k] = rgb[ys, xs]
        vals[k][m[ys, xs]] = np.nan
    seen = (~np.isnan(vals[..., 0])).sum(axis=0) >= max(1, min_count)
    out = np.zeros((p, 3), np.float32)
    if seen.any():
        out[seen] = nan_median(vals[:, seen])
    return out, seen


def nan_median(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=0)`` (the same numbers), by one sort: NumPy's own takes a
    masked-array path for short axes that is 10x slower. Every column needs a value.

    >>> v = np.array([[1.0, np.nan], [3.0, 2.0], [np.nan, 4.0], [2.0, np.nan]], np.float32)
    >>> nan_median(v).tolist()
    [2.0, 3.0]
    """
    ordered = np.sort(values, axis=0)  # NaN sorts last
    count = (~np.isnan(values)).sum(axis=0)
    lo = np.maximum((count - 1) // 2, 0)[None]
    hi = np.maximum(count // 2, 0)[None]
    a = np.take_along_axis(ordered, lo, axis=0)[0]
    b = np.take_along_axis(ordered, hi, axis=0)[0]
    return (a + b) * np.float32(0.5)


def light_gain(frame: np.ndarray, reference: np.ndarray, exclude: np.ndarray, *,
               sigma: float, outlier: float = LIGHT_OUTLIER) -> np.ndarray:
    """How much brighter ``frame`` is lit than ``reference`` (HxWx3 float32, a smooth gain per
    channel): the Gaussian (``sigma`` px) sum of ``frame`` over that of ``reference``, both over
    the pixels not in ``exclude`` whose difference is under ``outlier`` (largest channel);
    computed at 1/4 of sigma's scale, bounded to [1/GAIN_LIMIT, GAIN_LIMIT]; 1 far from any
    pixel used.

    >>> f = np.full((40, 60, 3), 0.5, np.float32); r = f / 1.04
    >>> ex = np.zeros((40, 60), bool); ex[10:30, 20:40] = True; f[ex] = 1.0
    >>> g = light_gain(f, r, ex, sigma=8)
    >>> bool(np.allclose(g, 1.04, atol=1e-4))
    True
    """
    h, w = exclude.shape
    frame = np.asarray(frame, np.float32)
    reference = np.asarray(reference, np.float32)
    use = (~exclude & (np.abs(frame - reference).max(axis=2) < outlier))[..., None]
    step = max(1, int(sigma // 4))
    size = (max(1, -(-w // step)), max(1, -(-h // step)))
    s = sigma / step
    sums = []
    for im in (frame, reference):
        small = cv2.resize(im * use, size, interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), s, borderType=cv2.BORDER_REPLICATE)
        sums.append(small.reshape(size[1], size[0], -1))
    num, den = sums
    gain = np.where(den > 1e-3, num / np.maximum(den, 1e-3), 1.0)
    gain = np.clip(gain, 1 / GAIN_LIMIT, GAIN_LIMIT).astype(np.float32)
    return cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)


def changed_around(frame: np.ndarray, expected: np.ndarray, hole: np.ndarray,
                   valid: np.ndarray) -> np.ndarray:
    """The holes (grown by SCENE_BAND[1] px, nearby holes together; the grown area is returned)
    surrounded mostly by pixels where ``frame`` differs from ``expected`` (the background in
    its light): something there now that the background does not show (a car parked since,
    a person standing), which the hole should show too. ``valid``: where ``expected`` holds.

    >>> bg = np.zeros((30, 30, 3), np.float32); hole = np.zeros((30, 30), bool)
    >>> hole[10:14, 10:14] = True; f = bg.copy(); f[5:20, 5:20] = 0.8  # a box around it
    >>> ok = np.ones((30, 30), bool)
    >>> changed_around(f, bg, hole, ok)[hole].all(), changed_around(bg, bg, hole, ok).any()
    (np.True_, np.False_)
    """
    inner, outer = SCENE_BAND
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * outer + 1,) * 2)
    grown = cv2.dilate(hole.astype(np.uint8), k)
    band = grown.astype(bool) & ~ring_of(hole, inner) & ~hole & valid
    n, labels = cv2.connectedComponents(grown, connectivity=8)
    off = np.abs(np.asarray(frame, np.float32) - expected).max(axis=2) > LIGHT_OUTLIER
    lb = labels[band]
    total = np.bincount(lb, minlength=n)
    bad = np.bincount(lb, weights=off[band], minlength=n)
    changed = (total >= 16) & (bad > SCENE_CHANGED * total)
    changed[0] = False
    return changed[labels]


def flat_holes(gray: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """uint8 ``gray`` with its hole smoothly filled from around it, so that the removed
    object's own motion does not drag the flow computed next to it."""
    if not hole.any() or hole.all():
        return gray
    return np.clip(diffuse(gray.astype(np.float32), ~hole) + 0.5, 0, 255).astype(np.uint8)


def completed_flow(frame_small: np.ndarray, other_small: np.ndarray,
                   hole_small: np.ndarray, scale: float,
                   other_hole: np.ndarray | None = None) -> np.ndarray:
    """Flow frame -> other (HxWx2, at the small copies' size), completed inside the frame's hole
    (grown a little: the object drags the flow next to it): an affine motion fitted to the flow
    around the hole (the camera's) plus the remaining flow diffused in from the hole's border.
    The frame's outer pixels, where DIS is least sure, are not used."""
    flow = dis_flow(flat_holes(frame_small, hole_small),
                    other_small if other_hole is None else flat_holes(other_small, other_hole))
    if not hole_small.any():
        return flow
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * FLOW_HOLE_MARGIN + 1,) * 2)
    grown = cv2.dilate(hole_small.astype(np.uint8), k).astype(bool)
    known = ~grown
    b = FLOW_EDGE
    if min(known.shape) > 4 * b:
        known[:b] = known[-b:] = False
        known[:, :b] = known[:, -b:] = False
    if not known.any():
        return flow
    model = affine_fit(flow, known, hole_small)
    residual = diffuse(flow - model, known)
    out = flow.copy()
    out[grown] = (model + residual)[grown]
    return out


def affine_fit(flow: np.ndarray, known: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The affine flow field (HxWx2) fitted by least squares, outliers dropped twice, to the
    known flow within FIT_RADIUS px of the hole."""
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    r = FIT_RADIUS
    y0, y1 = max(0, ys.min() - r), min(h, ys.max() + r + 1)
    x0, x1 = max(0, xs.min() - r), min(w, xs.max() + r + 1)
    ky, kx = np.nonzero(known[y0:y1, x0:x1])
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    if ky.size < 12:
        return np.zeros_like(flow) + np.median(flow[known], axis=0) if known.any() \
            else np.zeros_like(flow)
    if ky.size > 20000:  # a sample is plenty for 6 parameters
        pick = np.random.default_rng(0).choice(ky.size, 20000, replace=False)
        ky, kx = ky[pick], kx[pick]
    ky, kx = ky + y0, kx + x0
    a = np.stack([kx, ky, np.ones_like(kx)], axis=1).astype(np.float64)
    v = flow[ky, kx].astype(np.float64)
    use = np.ones(len(a), bool)
    coef = np.zeros((3, 2))
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(a[use], v[use], rcond=None)
        err = np.hypot(*(a @ coef - v).T)
        use = err <= max(3.0 * float(np.median(err[use])), 0.1)
        if use.sum() < 12:
            break
    return (np.stack([gx, gy, np.ones_like(gx)], axis=2) @ coef.astype(np.float32)
            ).astype(np.float32)


def upscale_flow(flow: np.ndarray, size: tuple[int, int], scale: float) -> np.ndarray:
    """A flow computed at ``1/scale`` size, resized to ``size`` = (h, w) and its vectors scaled."""
    h, w = size
    if flow.shape[:2] == (h, w):
        return flow
    return cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(scale)


def flow_estimate(ys: np.ndarray, xs: np.ndarray, sources) -> tuple[np.ndarray, np.ndarray]:
    """For the pixels (ys, xs) of a frame, the value from the first source (nearest first) that
    saw each one. ``sources``: (rgb HxWx3, mask HxW, flow HxWx2 frame->source at full size).
    Returns (values Px3 float32, seen P bool)."""
    p = len(ys)
    out = np.zeros((p, 3), np.float32)
    seen = np.zeros(p, bool)
    for rgb, mask, flow in sources:
        todo = np.flatnonzero(~seen)
        if todo.size == 0:
            break
        h, w = mask.shape
        fy, fx = ys[todo], xs[todo]
        qx = fx + flow[fy, fx, 0]
        qy = fy + flow[fy, fx, 1]
        inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        # (bilinear reads the 2x2 pixels around q: all of them must be outside the mask)
        x0 = np.clip(np.floor(qx).astype(np.intp), 0, w - 1)
        y0 = np.clip(np.floor(qy).astype(np.intp), 0, h - 1)
        x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
        ok = inside & ~(mask[y0, x0] | mask[y0, x1] | mask[y1, x0] | mask[y1, x1])
        if not ok.any():
            continue
        take = todo[ok]
        out[take] = bilinear(rgb, qx[ok], qy[ok])
        seen[take] = True
    return out, seen


def bilinear(rgb: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``rgb`` sampled at float points (x, y) inside the image (Px3)."""
    h, w = rgb.shape[:2]
    x0 = np.clip(np.floor(x).astype(np.intp), 0, w - 1)
    y0 = np.clip(np.floor(y).astype(np.intp), 0, h - 1)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    ax = (x - x0).astype(np.float32)[:, None]
    ay = (y - y0).astype(np.float32)[:, None]
    top = rgb[y0, x0] * (1 - ax) + rgb[y0, x1] * ax
    bottom = rgb[y1, x0] * (1 - ax) + rgb[y1, x1] * ax
    return (top * (1 - ay) + bottom * ay).astype(np.float32)


def seam_blend(frame: np.ndarray, hole: np.ndarray, estimate: np.ndarray,
               ring_ok: np.ndarray, *, sigma: float = SEAM_SIGMA,
               tau: float = SEAM_TAU) -> np.ndarray:
    """``frame`` with its hole replaced by ``estimate``, plus the difference frame - estimate on
    ``ring_ok`` (ring pixels outside the hole with a trusted estimate) smoothed along the ring,
    diffused into the hole and faded with the distance d from the hole's edge
    (``exp(-(d - 1) / tau)``): the hole's edge meets what surrounds it (a shadow or the
    codec's blocks the mask missed), its inside stays the estimate, and one frame's noise on
    the ring does not come in. Pixels outside the hole are ``frame``'s.

    >>> f = np.full((60, 60, 3), 0.6, np.float32); hole = np.zeros((60, 60), bool)
    >>> hole[10:50, 10:50] = True; est = np.full_like(f, 0.5)
    >>> out = seam_blend(f, hole, est, ring_of(hole) & ~hole)
    >>> round(float(out[10, 30, 0]), 3), round(float(out[30, 30, 0]), 3)
    (0.6, 0.505)
    """
    out = frame.copy()
    if not hole.any():
        return out
    if not ring_ok.any():
        out[hole] = np.clip(estimate[hole], 0.0, 1.0)
        return out
    ys, xs = np.nonzero(hole | ring_ok)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    known = ring_ok[y0:y1, x0:x1]
    diff = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
    diff[known] = frame[y0:y1, x0:x1][known] - estimate[y0:y1, x0:x1][known]
    if sigma > 0:
        k = known.astype(np.float32)
        num = cv2.GaussianBlur(diff, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
        den = cv2.GaussianBlur(k, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
        diff = np.where(known[..., None], num / np.maximum(den, 1e-6)[..., None], 0.0)
    corr = diffuse(diff.astype(np.float32), known)
    sub = hole[y0:y1, x0:x1]
    d = cv2.distanceTransform(sub.astype(np.uint8), cv2.DIST_L2, 3)
    w = np.clip(np.exp(-(d - 1.0) / tau), 0.0, 1.0)[..., None]
    fill = estimate[y0:y1, x0:x1] + w * corr
    out[y0:y1, x0:x1][sub] = np.clip(fill[sub], 0.0, 1.0)
    return out


def blend(frame: np.ndarray, hole: np.ndarray, estimate: np.ndarray,
          ring_ok: np.ndarray) -> np.ndarray:
    """``frame`` with its hole replaced by ``estimate`` (HxWx3, valid on the hole and the ring),
    corrected by the frame - estimate difference on ``ring_ok`` (ring pixels with a trusted
    estimate) diffused into the hole. Pixels outside the hole are ``frame``'s, untouched."""
    out = frame.copy()
    ys, xs = np.nonzero(hole | ring_ok)
    if ring_ok.any():
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        diff = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
        known = ring_ok[y0:y1, x0:x1]
        diff[known] = frame[y0:y1, x0:x1][known] - estimate[y0:y1, x0:x1][known]
        corr = diffuse(diff, known)
        fill = estimate[y0:y1, x0:x1] + corr
        sub = hole[y0:y1, x0:x1]
        out[y0:y1, x0:x1][sub] = np.clip(fill[sub], 0.0, 1.0)
    else:
        out[hole] = np.clip(estimate[hole], 0.0, 1.0)
    return out


__all__ = ["blend", "changed_around", "completed_flow", "diffuse", "flow_estimate",
           "light_gain", "nan_median", "ring_of", "seam_blend", "static_estimate",
           "upscale_flow"]
