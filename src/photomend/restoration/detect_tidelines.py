"""Stains on colour scans, found by their tide line: a closed, thin, darker-browner curve.

The stain network (:mod:`photomend.restoration.detect_stains`) finds stains on toned scans by
their tint, and none on colour scans, where a brown blot looks like brown content to it. What
every stain has, whatever it lies on, is a tide line: the rim where the water dried, blended
further toward the stain's brown than the inside. So on a colour scan (scaled to
:data:`SIDE` px) the lines of the luma and of a brown-blue chroma axis are traced (the larger
eigenvalue of the Hessian, :func:`line_map`); the holes that closed lines enclose are the
candidate stains (:func:`candidates`); each is measured (:data:`FEATURES`: its shape, how
strong and how closed its outline is, and how well the inside is explained as the outside
blended toward one brown, sector by sector round the outline) and a logistic model keeps the
ones that look like stains (``data/weights/tidelines.json``, trained by
``training/train_tidelines.py`` on the training photos; session 8).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np

from photomend.ops.morphology import disk
from photomend.restoration.detect_stains import to_stain_side
from photomend.restoration.logistic import probability

#: File name of the shipped model under ``photomend/data/weights/``.
WEIGHTS = "tidelines.json"
#: Long side (px) at which tide lines are traced (a stain of the synthetic damage is then 6-35
#: px in radius and its rim 2-4 px wide).
SIDE = 512
#: Scale (px at :data:`SIDE`) of the line filter.
SIGMA = 1.5
#: Line strengths (in multiples of the scan's median) whose closed lines make candidates: a
#: faint tide line closes at a low threshold, one beside busy content only at a high one.
LINE_THRESHOLDS = (2.5, 3.5, 5.0)
#: Gaps up to about this many px (at :data:`SIDE`) in a line are closed.
CLOSE = 5
#: Candidate holes of this many px (at :data:`SIDE`).
MIN_AREA, MAX_AREA = 30, 5000
#: The stain's brown (``degrade`` draws stains toward multiples of it) and the chroma axis
#: from blue to that brown, along which a tide line shows on any background.
BROWN = np.array([0.55, 0.42, 0.25], np.float32)
_BROWN_DIR = BROWN / np.linalg.norm(BROWN)
_BROWN_AXIS = (BROWN - BROWN.mean()) / np.linalg.norm(BROWN - BROWN.mean())
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
#: What the model sees of a candidate, in this order.
FEATURES = (
    "log_area",          # log of the hole's area (px at SIDE)
    "compactness",       # 4 pi area / perimeter^2
    "solidity",          # area / convex hull area
    "blend",             # a: inside = (1 - a) outside + b * brown, fitted over 8 sectors
    "blend_brightness",  # b / a: how bright the brown the inside is blended toward
    "blend_residual",    # RMS misfit of that model
    "blend_misfit",      # misfit / RMS difference inside - outside
    "contrast",          # RMS difference inside - outside
    "rim_blend",         # the same fit for the outline band
    "rim_extra",         # rim blend - inside blend (a tide line is blended further)
    "rim_misfit",        # misfit / difference for the outline band
    "log_texture",       # log of Laplacian energy inside / outside (a stain only tints)
    "brown_shift",       # angle to brown inside - outside (degrees; < 0: browner inside)
    "brown_angle",       # angle to brown outside (degrees)
    "line_strength",     # median line strength on the outline
    "closed",            # share of the outline above the lowest line threshold
    "blend_off",         # |blend - 0.45|: a stain tints 30-55 %, an object covers
    "rim_off",           # |rim blend - 0.55|
)


def weights_path() -> Path:
    """Path of the shipped model."""
    return Path(str(files("photomend") / "data" / "weights" / WEIGHTS))


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> dict:
    """The model (``mean``, ``scale``, ``coef``, ``intercept``, ``threshold``) from its JSON."""
    model = json.loads(Path(path or weights_path()).read_text())
    if list(model["features"]) != list(FEATURES):
        raise ValueError(f"{path or weights_path()}: trained on other features than this "
                         "photomend measures")
    return model


def _hessian_line(channel: np.ndarray, sigma: float) -> np.ndarray:
    """|largest-magnitude Hessian eigenvalue| (scale-normalised): dark and bright lines."""
    g = cv2.GaussianBlur(channel, (0, 0), sigma)
    dxx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3)
    half_trace, root = (dxx + dyy) / 2, np.sqrt(((dxx - dyy) / 2) ** 2 + dxy**2)
    return (np.abs(half_trace) + root) * sigma**2


def line_map(small: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """Line strength per pixel of ``small`` (float32 RGB): the larger of the luma's and the
    brown-blue chroma's line filter, each in multiples of its median over the scan (so grain
    and a soft scan set their own floor)."""
    luma = small @ _LUMA
    brown = (small - small.mean(2, keepdims=True)) @ _BROWN_AXIS
    out = []
    for channel in (luma, brown):
        e = _hessian_line(np.ascontiguousarray(channel, np.float32), sigma)
        out.append(e / (float(np.median(e)) + 1e-6))
    return np.maximum(out[0], out[1])


def candidates(lines: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """The holes enclosed by closed lines of ``lines`` (:func:`line_map`) at each of
    :data:`LINE_THRESHOLDS`, away from the border, of :data:`MIN_AREA`-:data:`MAX_AREA` px:
    ``(hole mask inside its box, box (x, y, w, h))``, one per distinct box."""
    h, w = lines.shape
    out, seen = [], set()
    for t in LINE_THRESHOLDS:
        on = cv2.morphologyEx((lines > t).astype(np.uint8), cv2.MORPH_CLOSE, disk(CLOSE // 2))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(1 - on, connectivity=4)
        for i in range(1, n):
            x, y, bw, bh, area = (int(v) for v in stats[i])
            if not MIN_AREA <= area <= MAX_AREA or x == 0 or y == 0 or x + bw == w or y + bh == h:
                continue
            key = (x // 3, y // 3, bw // 3, bh // 3)  # the same hole at another threshold
            if key in seen:
                continue
            seen.add(key)
            out.append((labels[y:y + bh, x:x + bw] == i, (x, y, bw, bh)))
    return out


def _blend_fit(outside: np.ndarray, target: np.ndarray) -> tuple[float, float, float, float]:
    """Least squares ``target = (1 - a) outside + b * brown`` over sector means: (a, b, RMS
    misfit, RMS of target - outside)."""
    design = np.stack([-outside.reshape(-1), np.tile(_BROWN_DIR, len(outside))], 1)
    diff = (target - outside).reshape(-1)
    (a, b), *_ = np.linalg.lstsq(design, diff, rcond=None)
    misfit = diff - design @ np.array([a, b])
    return float(a), float(b), float(np.sqrt(np.mean(misfit**2))), float(np.sqrt(np.mean(diff**2)))


def _angle_to_brown(colours: np.ndarray) -> float:
    norm = np.maximum(np.linalg.norm(colours, axis=1), 1e-4)
    return float(np.degrees(np.arccos(np.clip(colours @ _BROWN_DIR / norm, -1, 1))).mean())


def measure(small: np.ndarray, lines: np.ndarray, candidate) -> np.ndarray | None:
    """The :data:`FEATURES` of one candidate (None if it is too small to measure)."""
    hole, (x, y, bw, bh) = candidate
    h, w = lines.shape
    pad = 10
    x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(w, x + bw + pad), min(h, y + bh + pad)
    inner = np.zeros((y1 - y0, x1 - x0), np.uint8)
    inner[y - y0:y - y0 + bh, x - x0:x - x0 + bw] = hole
    rgb, line = small[y0:y1, x0:x1], lines[y0:y1, x0:x1]
    region = cv2.dilate(inner, disk(2))
    rim = region.astype(bool) & ~inner.astype(bool)
    outside = cv2.dilate(region, disk(4)).astype(bool) & ~cv2.dilate(region, disk(1)).astype(bool)
    inside = inner.astype(bool) & ~cv2.erode(inner, disk(2)).astype(bool)
    if inside.sum() < 3:
        inside = inner.astype(bool)
    if outside.sum() < 3 or rim.sum() < 3:
        return None
    # eight sectors round the centre: the outside varies round a stain, the blend does not
    cy, cx = np.argwhere(inner).mean(0)
    yy, xx = np.mgrid[0:inner.shape[0], 0:inner.shape[1]]
    sector = ((np.arctan2(yy - cy, xx - cx) + np.pi) / (2 * np.pi) * 8).astype(int) % 8
    ins, outs, rims = [], [], []
    for k in range(8):
        a_in, a_out, a_rim = inside & (sector == k), outside & (sector == k), rim & (sector == k)
        if a_in.sum() >= 2 and a_out.sum() >= 2 and a_rim.sum() >= 1:
            ins.append(rgb[a_in].mean(0))
            outs.append(rgb[a_out].mean(0))
            rims.append(rgb[a_rim].mean(0))
    if len(ins) < 4:
        return None
    ins, outs, rims = np.array(ins), np.array(outs), np.array(rims)
    a, b, misfit, diff = _blend_fit(outs, ins)
    a_rim, _, misfit_rim, diff_rim = _blend_fit(outs, rims)
    area = float(inner.sum())
    contours, _ = cv2.findContours(inner, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    perimeter = max(cv2.arcLength(contours[0], True), 1.0)
    hull = max(cv2.contourArea(cv2.convexHull(contours[0])), 1.0)
    detail = np.abs(cv2.Laplacian(cv2.GaussianBlur(rgb @ _LUMA, (0, 0), 0.7), cv2.CV_32F))
    texture = (detail[inner.astype(bool)].mean() + 1e-4) / (detail[outside].mean() + 1e-4)
    angle_out = _angle_to_brown(outs)
    rim_lines = line[rim]
    return np.array([
        np.log(area), 4 * np.pi * area / perimeter**2, area / hull,
        a, b / a if a > 0.05 else 0.0, misfit, misfit / (diff + 1e-4), diff,
        a_rim, a_rim - a, misfit_rim / (diff_rim + 1e-4),
        np.log(texture), _angle_to_brown(ins) - angle_out, angle_out,
        float(np.median(rim_lines)), float((rim_lines > LINE_THRESHOLDS[0]).mean()),
        abs(a - 0.45), abs(a_rim - 0.55),
    ], np.float32)


#: A stain is translucent: a candidate whose inside is fitted as more than this blended
#: toward brown is an object (a brown disc), whatever the model says (3 of the 134 stain
#: candidates of the training photos are above it; session 8).
MAX_BLEND = 0.95


def probabilities(X: np.ndarray, model: dict) -> np.ndarray:
    """Stain probability of each row of :data:`FEATURES` in ``X`` (N x F): the logistic
    model, 0 for opaque candidates (:data:`MAX_BLEND`)."""
    X = np.asarray(X, np.float64).reshape(-1, len(FEATURES))
    return np.where(X[:, FEATURES.index("blend")] > MAX_BLEND, 0.0, probability(X, model))


def measured(small: np.ndarray, lines: np.ndarray):
    """``(candidates, features N x F)`` of ``small`` (at :data:`SIDE` px, ``lines`` its
    :func:`line_map`): the :func:`candidates` that :func:`measure` can measure."""
    cands, feats = [], []
    for cand in candidates(lines):
        f = measure(small, lines, cand)
        if f is not None and np.isfinite(f).all():
            cands.append(cand)
            feats.append(f)
    return cands, np.array(feats, np.float32).reshape(-1, len(FEATURES))


def stain_probabilities(small: np.ndarray, model: dict | None = None,
                        lines: np.ndarray | None = None):
    """``[(candidate, probability)]`` of ``small`` (at :data:`SIDE` px; ``lines``: its
    :func:`line_map` if already computed)."""
    model = model or load_model()
    cands, X = measured(small, line_map(small) if lines is None else lines)
    return list(zip(cands, probabilities(X, model))) if cands else []


#: A kept hole takes in the line pixels (above the lowest of :data:`LINE_THRESHOLDS`) up to
#: this many px (at :data:`SIDE`) around it: its tide line, which the hole stops short of ...
BAND = 4
#: ... and is then closed, filled and grown by this many px.
RIM = 1


def _fill(mask: np.ndarray) -> np.ndarray:
    """``mask`` with its enclosed holes filled."""
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    return (padded | (1 - flood)).astype(bool)[1:-1, 1:-1]


def assemble(lines: np.ndarray, scored, threshold: float, band: int = BAND,
             rim: int = RIM) -> np.ndarray:
    """Bool mask (the shape of ``lines``, at :data:`SIDE`) of the stains among ``scored``
    candidates (``[(candidate, probability)]``): the holes above ``threshold`` with the line
    pixels up to ``band`` px around them (the tide line), closed (a stain crossed by a scratch
    is two holes a line apart), filled and grown by ``rim`` px.

    >>> lines = np.zeros((12, 12), np.float32); lines[3, :] = 9.0     # a line above the hole
    >>> hole = np.ones((4, 4), bool)
    >>> m = assemble(lines, [((hole, (4, 4, 4, 4)), 0.9)], 0.5, band=2, rim=0)
    >>> m[3].astype(int).tolist(), int(m.sum())                       # the line near it
    ([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0], 24)
    """
    found = np.zeros(lines.shape, np.uint8)
    for (hole, (x, y, bw, bh)), p in scored:
        if p > threshold:
            found[y:y + bh, x:x + bw] |= hole.astype(np.uint8)
    if not found.any():
        return found.astype(bool)
    if band:
        found |= cv2.dilate(found, disk(band)) & (lines > LINE_THRESHOLDS[0]).astype(np.uint8)
    found = cv2.morphologyEx(found, cv2.MORPH_CLOSE, disk(2))
    found = _fill(found).astype(np.uint8)
    return (cv2.dilate(found, disk(rim)) if rim else found).astype(bool)


def tideline_stains(rgb: np.ndarray, *, model: str | Path | None = None,
                    threshold: float | None = None) -> np.ndarray:
    """Bool HxW mask of the stains of ``rgb`` (float32 RGB in [0, 1]) found by their tide
    line: the candidates the model keeps (probability above ``threshold``, None: the model's,
    :func:`assemble`), scaled back to the size of ``rgb``.

    >>> img = np.full((256, 256, 3), (0.3, 0.55, 0.35), np.float32)   # a plain green scan
    >>> bool(tideline_stains(img).any())
    False
    """
    m = load_model(str(model) if model else None)
    t = float(m["threshold"]) if threshold is None else float(threshold)
    rgb = np.asarray(rgb, np.float32)
    h, w = rgb.shape[:2]
    small = to_stain_side(rgb, SIDE)
    lines = line_map(small)
    found = assemble(lines, stain_probabilities(small, m, lines), t)
    if not found.any():
        return np.zeros((h, w), bool)
    return cv2.resize(found.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
