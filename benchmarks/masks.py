"""Seeded, reproducible hole masks for the benchmarks: wide brush strokes, boxes, object blobs.

Every size is relative to the image (its short side ``S``). A mask is drawn on a canvas of the
image's aspect ratio with a short side of 512 px and then scaled to the image, so a seed gives
the same layout at 512 px and at 4K. Each generator draws candidates until the hole covers a
fraction of the image inside its range, and keeps every hole pixel at least ``MARGIN * S`` away
from the image border, so no hole touches (let alone covers) a side of the image.

>>> m = make_mask("boxes", (288, 512), seed=0)
>>> m.dtype.name, m.shape, bool(0.10 <= m.mean() <= 0.20)
('bool', (288, 512), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

MASK_KINDS = ("strokes", "boxes", "blobs")
#: Default (low, high) fraction of the image each kind covers.
COVERAGE = {"strokes": (0.10, 0.25), "boxes": (0.10, 0.20), "blobs": (0.05, 0.12)}
#: Distance of every hole pixel from the image border, as a fraction of the short side.
MARGIN = 0.03
#: Short side of the canvas every mask is drawn on before it is scaled to the image.
CANVAS_SHORT_SIDE = 512
_MAX_TRIES = 2000
_BAND = 0.002  # coverage kept from the range's ends on the canvas; scaling moves it less

Generator = Callable[[tuple[int, int], np.random.Generator, tuple[float, float]], "np.ndarray | None"]


def make_mask(
    kind: str,
    shape: tuple[int, int],
    seed: int,
    *,
    coverage: tuple[float, float] | None = None,
) -> np.ndarray:
    """Return a bool (H, W) mask of ``kind`` (True = hole), the same for the same arguments.

    ``coverage`` narrows or replaces the kind's default range from :data:`COVERAGE`.

    >>> a = make_mask("strokes", (300, 400), seed=3)
    >>> bool((a == make_mask("strokes", (300, 400), seed=3)).all())
    True
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; choose from {', '.join(MASK_KINDS)}")
    h, w = shape
    if min(h, w) < 32:
        raise ValueError(f"masks need images of at least 32x32 pixels, got {w}x{h}")
    low, high = coverage if coverage is not None else COVERAGE[kind]
    if not 0 < low <= high < 1:
        raise ValueError(f"coverage must satisfy 0 < low <= high < 1, got {(low, high)}")
    rng = np.random.default_rng([int(seed), MASK_KINDS.index(kind)])
    generate = _GENERATORS[kind]
    scale = CANVAS_SHORT_SIDE / min(h, w)
    canvas = (max(1, round(h * scale)), max(1, round(w * scale)))
    for _ in range(_MAX_TRIES):
        mask = generate(canvas, rng, (low, high))
        # decide on the canvas, with a band to spare, so every image size accepts the same one
        if mask is None or not low + _BAND <= mask.mean() <= high - _BAND:
            continue
        if canvas != (h, w):
            mask = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
        if low <= mask.mean() <= high and not _touches_margin(mask):
            return mask
    raise RuntimeError(f"no {kind} mask with coverage in {(low, high)} after {_MAX_TRIES} tries")


def _touches_margin(mask: np.ndarray) -> bool:
    m = int(MARGIN * min(mask.shape))
    return bool(mask[:m].any() or mask[-m:].any() or mask[:, :m].any() or mask[:, -m:].any())


def _inner_box(shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1): where hole pixels may lie."""
    h, w = shape
    m = MARGIN * min(h, w) + 1  # one pixel to spare for the scaling to the image
    return m, m, w - 1 - m, h - 1 - m


def _strokes(shape: tuple[int, int], rng: np.random.Generator, cov: tuple[float, float]):
    """Free-form brush strokes: random-walk polylines 3-8 % of the short side wide."""
    h, w = shape
    s = min(h, w)
    x0, y0, x1, y1 = _inner_box(shape)
    mask = np.zeros(shape, np.uint8)
    target = rng.uniform(*cov)
    for _ in range(12):
        width = rng.uniform(0.03, 0.08) * s
        r = width / 2 + 2  # thick lines overshoot their width by a pixel or so
        lo, hi = np.array([x0 + r, y0 + r]), np.array([x1 - r, y1 - r])
        p = rng.uniform(lo, hi)
        angle = rng.uniform(0, 2 * math.pi)
        points = [p]
        for _ in range(rng.integers(4, 11)):
            angle += rng.normal(0, 0.7)
            q = p + rng.uniform(0.08, 0.22) * s * np.array([math.cos(angle), math.sin(angle)])
            if (q < lo).any() or (q > hi).any():
                angle += math.pi  # bounce off the margin
                q = np.clip(q, lo, hi)
            points.append(q)
            p = q
        pts = np.round(np.array(points)).astype(np.int32)
        thickness = max(1, int(round(width)))
        cv2.polylines(mask, [pts], False, 1, thickness=thickness, lineType=cv2.LINE_8)
        for x, y in pts:  # round joints and caps
            cv2.circle(mask, (int(x), int(y)), thickness // 2, 1, -1, lineType=cv2.LINE_8)
        fraction = mask.mean()
        if fraction > cov[1]:
            return None
        if fraction >= target:
            return mask.astype(bool)
    return None


def _areas(shape: tuple[int, int], rng: np.random.Generator, cov: tuple[float, float]):
    """The areas (px) of 1-3 shapes sharing a total drawn from the coverage range."""
    n = int(rng.integers(1, 4))
    shares = rng.uniform(0.5, 1.0, n)
    return rng.uniform(*cov) * shape[0] * shape[1] * shares / shares.sum()


def _boxes(shape: tuple[int, int], rng: np.random.Generator, cov: tuple[float, float]):
    """1-3 axis-aligned rectangles sharing a total area drawn from the coverage range."""
    x0, y0, x1, y1 = _inner_box(shape)
    mask = np.zeros(shape, bool)
    for area in _areas(shape, rng, cov):
        aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))  # width / height
        bw, bh = math.sqrt(area * aspect), math.sqrt(area / aspect)
        if bw > x1 - x0 or bh > y1 - y0:
            return None
        left, top = rng.uniform(x0, x1 - bw), rng.uniform(y0, y1 - bh)
        mask[int(round(top)) : int(round(top + bh)), int(round(left)) : int(round(left + bw))] = True
    return mask


def _blobs(shape: tuple[int, int], rng: np.random.Generator, cov: tuple[float, float]):
    """1-3 object-shaped blobs: smoothed random polygons, ellipse unions, standing people."""
    x0, y0, x1, y1 = _inner_box(shape)
    mask = np.zeros(shape, bool)
    for area in _areas(shape, rng, cov):
        shape_fn = (_polygon_shape, _ellipses_shape, _person_shape)[int(rng.integers(0, 3))]
        unit = shape_fn(rng)  # float32 canvas, 1 inside, tightly cropped
        scale = math.sqrt(area / max(float(unit.sum()), 1.0))
        bw, bh = round(unit.shape[1] * scale), round(unit.shape[0] * scale)
        if bw < 2 or bh < 2 or bw > x1 - x0 or bh > y1 - y0:
            return None
        blob = cv2.resize(unit, (bw, bh), interpolation=cv2.INTER_LINEAR) >= 0.5
        left = int(round(rng.uniform(x0, x1 - bw)))
        top = int(round(rng.uniform(y0, y1 - bh)))
        mask[top : top + bh, left : left + bw] |= blob
    return mask


_CANVAS = 256


def _crop_smooth(canvas: np.ndarray, sigma: float) -> np.ndarray:
    soft = cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), sigma)
    hard = (soft >= 0.5).astype(np.float32)
    ys, xs = np.nonzero(hard)
    return hard[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _polygon_shape(rng: np.random.Generator) -> np.ndarray:
    """A star-shaped random polygon with smoothly varying radius (a rock, a bag, a bush)."""
    k = int(rng.integers(10, 20))
    angles = np.sort(rng.uniform(0, 2 * math.pi, k))
    radii = np.clip(rng.normal(1.0, 0.25, k), 0.5, 1.5)
    radii = (radii + np.roll(radii, 1) + np.roll(radii, -1)) / 3
    stretch = math.exp(rng.uniform(-0.5, 0.5))
    c = _CANVAS / 2
    r = _CANVAS * 0.3
    pts = np.stack([c + r * radii * np.cos(angles) * stretch, c + r * radii * np.sin(angles) / stretch], 1)
    canvas = np.zeros((_CANVAS, _CANVAS), np.uint8)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    return _crop_smooth(canvas, 6)


def _ellipses_shape(rng: np.random.Generator) -> np.ndarray:
    """A union of 2-4 overlapping ellipses (an animal, a car, a group of things)."""
    canvas = np.zeros((_CANVAS, _CANVAS), np.uint8)
    c = _CANVAS / 2
    for _ in range(int(rng.integers(2, 5))):
        cx, cy = c + rng.normal(0, 0.1, 2) * _CANVAS
        ax, ay = rng.uniform(0.08, 0.22, 2) * _CANVAS
        cv2.ellipse(canvas, (int(cx), int(cy)), (int(ax), int(ay)), float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return _crop_smooth(canvas, 4)


def _person_shape(rng: np.random.Generator) -> np.ndarray:
    """A standing person: head, torso, two legs; tall and narrow."""
    canvas = np.zeros((_CANVAS, _CANVAS), np.uint8)
    u = _CANVAS / 100  # the figure is about 90 units tall
    cx = _CANVAS / 2
    girth = rng.uniform(0.8, 1.2)
    cv2.circle(canvas, (int(cx), int(12 * u)), int(7 * u), 1, -1)  # head
    cv2.ellipse(canvas, (int(cx), int(38 * u)), (int(11 * u * girth), int(20 * u)), 0, 0, 360, 1, -1)  # torso
    for side in (-1, 1):  # arms and legs
        cv2.line(canvas, (int(cx + side * 9 * u * girth), int(26 * u)),
                 (int(cx + side * 13 * u * girth), int(52 * u)), 1, int(5 * u))
        spread = rng.uniform(2, 7)
        cv2.line(canvas, (int(cx + side * 5 * u), int(52 * u)),
                 (int(cx + side * spread * u), int(92 * u)), 1, int(7 * u))
    return _crop_smooth(canvas, 3)


_GENERATORS: dict[str, Generator] = {"strokes": _strokes, "boxes": _boxes, "blobs": _blobs}
