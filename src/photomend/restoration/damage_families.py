"""Damage families: independently drawn old-photo damage, each with its own ageing.

:func:`degrade` (``photomend.restoration.degrade``) is one generator; a detector tuned on it
learns its drawing code as much as the damage. The families here were written separately, with
other primitives and other parameter ranges, so that a detector can be judged on damage it was
never tuned on (issue 21):

``strokes``
    anti-aliased cubic Bézier and polyline scratches of 1-6 px, constant or varying width, with a
    hard or a soft profile and sometimes a faint halo, bright or dark; dust as discs, irregular
    blobs and clusters, bright and dark. Ageing: monochrome, lower contrast, blur, grain.
``folds``
    straight fold creases of 3-8 px crossing the whole photo, a highlight on one side and a
    shadow on the other; curved branching cracks; torn corners and torn edges, of paper colour
    or black (the scanner lid). Ageing: sepia, vignetting, JPEG.
``surface``
    stains and water marks (a tint with a darker tide line), emulsion flaking (patches where the
    paper shows), mould specks. Ageing: colour fading (a red-magenta cast, less saturation),
    grain, blur, scanner banding, JPEG.
``degrade``
    :func:`photomend.restoration.degrade.degrade` itself.

Sizes are pixels of a scan whose long side is 1024 and scale with the long side (a 512, 1024
or 3000 px scan gets defects of the same size relative to the photo) unless ``scale`` is given.

**Ground truth.** Every defect is blended into the aged print with a weight ``a`` in [0, 1]
(``a`` = anti-aliased coverage x strength); the weights of all defects combine as
``1 - prod(1 - a)``, and a pixel is a defect exactly where its combined weight is at least
:data:`TRUTH_WEIGHT`. So, before the scan effects (blur, grain, banding, JPEG, applied alike to
the damaged scan and its clean twin), a pixel outside the mask differs from the clean twin by
less than ``TRUTH_WEIGHT`` times the contrast of what was drawn over it; halos and the soft
tails of scratches stay under it. ``kinds`` holds the same rule per defect type.

>>> import numpy as np
>>> photo = np.full((96, 128, 3), 0.5, np.float32)
>>> a, b = damage(photo, "folds", seed=1), damage(photo, "folds", seed=1)
>>> bool((a.image == b.image).all() and (a.mask == b.mask).all()), a.mask.shape
(True, (96, 128))
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import cv2
import numpy as np

from photomend.restoration.degrade import Degraded, degrade

#: The families :func:`damage` draws.
FAMILIES = ("degrade", "strokes", "folds", "surface")
#: Combined blend weight from which a pixel is a defect in the ground truth.
TRUTH_WEIGHT = 0.25
REFERENCE_SIDE = 1024
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
PAPER = np.array([0.93, 0.90, 0.82], np.float32)


def damage(image: np.ndarray, family: str, *, seed: int = 0, scale: float | None = None,
           scan: bool = True) -> Degraded:
    """An aged, damaged copy of ``image`` (float HxWx3 RGB in [0, 1]) drawn by ``family``.

    ``scale``: defect size factor (None: long side / 1024). ``scan``: apply the family's scan
    effects (blur, grain, banding, JPEG) to the scan and its clean twin; without them the
    ground-truth rule of the module docstring holds pixel for pixel. Same image, family and
    seed: the same scan and mask, bit for bit. ``degrade`` ignores ``scan``.
    """
    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB array, got shape {rgb.shape}")
    if family not in FAMILIES:
        raise ValueError(f"unknown damage family {family!r}; choose from {', '.join(FAMILIES)}")
    rgb = np.clip(rgb.astype(np.float32), 0.0, 1.0)
    if family == "degrade":
        return degrade(rgb, seed=seed, scale=scale)
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    s = max(rgb.shape[:2]) / REFERENCE_SIDE if scale is None else float(scale)
    age, draw, scan_fx = _FAMILY[family]
    print_ = age(rgb, rng)
    sheet = _Sheet(print_, s, rng)
    draw(sheet)
    damaged, mask, kinds = sheet.result()
    if scan:
        damaged, clean = scan_fx(damaged, print_, s, rng)
    else:
        clean = print_
    return Degraded(image=damaged, mask=mask, clean=clean, kinds=kinds)


# ---------------------------------------------------------------------------------------------
# The sheet: blends defects in one by one and keeps their weights
# ---------------------------------------------------------------------------------------------


class _Sheet:
    def __init__(self, base: np.ndarray, s: float, rng: np.random.Generator) -> None:
        self.img = base.copy()
        self.h, self.w = base.shape[:2]
        self.s, self.rng = s, rng
        self.ss = 4 if max(self.h, self.w) <= 1400 else 2  # supersampling of the drawing
        self.keep = np.ones((self.h, self.w), np.float32)  # prod(1 - a), all defects
        self.keep_kind: dict[str, np.ndarray] = {}

    def blend(self, kind: str | None, a: np.ndarray, target: np.ndarray, box=None) -> None:
        """Blend ``target`` (RGB, or HxWx3 in the box) into the sheet with weight ``a``; a
        ``kind`` of None (a halo) counts in the combined weight only."""
        y0, y1, x0, x1 = box or (0, self.h, 0, self.w)
        a = np.clip(a, 0.0, 1.0).astype(np.float32)
        sl = (slice(y0, y1), slice(x0, x1))
        self.img[sl] = self.img[sl] * (1 - a[:, :, None]) + target * a[:, :, None]
        self.keep[sl] *= 1 - a
        if kind is None:
            return
        k = self.keep_kind.setdefault(kind, np.ones((self.h, self.w), np.float32))
        k[sl] *= 1 - a

    def coverage(self, draw: Callable[[np.ndarray, int], None], box) -> np.ndarray:
        """Anti-aliased coverage in ``box`` (y0, y1, x0, x1) of what ``draw(canvas, ss)``
        paints (255) on a supersampled canvas whose origin is the box's corner."""
        y0, y1, x0, x1 = box
        ss = self.ss
        canvas = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), np.uint8)
        draw(canvas, ss)
        return cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA
                          ).astype(np.float32) / 255.0

    def box(self, pts: np.ndarray, margin: float) -> tuple[int, int, int, int]:
        m = math.ceil(margin) + 2
        x0, y0 = np.floor(pts.min(0)).astype(int) - m
        x1, y1 = np.ceil(pts.max(0)).astype(int) + m
        return (max(0, y0), min(self.h, y1), max(0, x0), min(self.w, x1))

    def polyline_cover(self, pts: np.ndarray, widths: np.ndarray, box) -> np.ndarray:
        y0, _, x0, _ = box

        def draw(canvas, ss):
            p = np.round((pts - [x0, y0]) * ss * 16).astype(np.int32)
            for i in range(len(p) - 1):
                t = max(1, round(widths[i] * ss))
                cv2.line(canvas, tuple(map(int, p[i])), tuple(map(int, p[i + 1])), 255, t,
                         cv2.LINE_8, 4)
        return self.coverage(draw, box)

    def result(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        mask = 1 - self.keep >= TRUTH_WEIGHT
        kinds = {k: m for k, v in self.keep_kind.items() if (m := 1 - v >= TRUTH_WEIGHT).any()}
        return np.clip(self.img, 0, 1).astype(np.float32), mask, kinds


def _bezier(rng, sheet: _Sheet, length: float) -> np.ndarray:
    """Points every ~1 px along a random cubic Bézier curve of about ``length`` px."""
    ang = rng.uniform(0, 2 * np.pi)
    d = np.array([np.cos(ang), np.sin(ang)])
    p0 = rng.uniform([0, 0], [sheet.w, sheet.h]) - d * length / 2  # centred in the photo
    p3 = p0 + d * length
    normal = np.array([-d[1], d[0]])
    p1 = p0 + d * length / 3 + normal * rng.normal(0, 0.25) * length
    p2 = p0 + 2 * d * length / 3 + normal * rng.normal(0, 0.25) * length
    t = np.linspace(0, 1, max(8, int(length * 1.2)))[:, None]
    return ((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2
            + t ** 3 * p3)


def _polyline(rng, sheet: _Sheet, length: float) -> np.ndarray:
    """A jagged polyline of 3-6 straight pieces, resampled every ~1 px."""
    n = int(rng.integers(3, 7))
    ang = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.35, n))
    steps = np.stack([np.cos(ang), np.sin(ang)], 1) * (length / n)
    corners = np.vstack([rng.uniform([0, 0], [sheet.w, sheet.h]), steps]).cumsum(0)
    corners -= steps.sum(0) / 2  # centred on the drawn point
    return np.vstack([np.linspace(a, b, max(2, int(length / n)), endpoint=False)
                      for a, b in itertools.pairwise(corners)] + [corners[-1:]])


def _wander(rng, n: int, lo: float, hi: float) -> np.ndarray:
    knots = rng.uniform(lo, hi, max(2, n // 40 + 2))
    return np.interp(np.linspace(0, len(knots) - 1, n), np.arange(len(knots)), knots)


def _noise_field(rng, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise in [0, 1] with features of about ``cell`` px."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    g = cv2.resize(rng.random((gh, gw)).astype(np.float32), (w, h),
                   interpolation=cv2.INTER_CUBIC)
    g -= g.min()
    return g / max(float(g.max()), 1e-6)


# ---------------------------------------------------------------------------------------------
# Family "strokes": scratches and dust
# ---------------------------------------------------------------------------------------------


def _age_strokes(rgb, rng):
    y = rgb @ _LUMA
    y = (y - 0.5) * rng.uniform(0.7, 0.95) + 0.5 + rng.uniform(0.0, 0.06)
    tint = rng.uniform([0.97, 0.98, 0.98], [1.0, 1.0, 1.03]).astype(np.float32)  # cool mono
    return np.clip(y[:, :, None] * tint, 0, 1).astype(np.float32)


def _draw_strokes(sh: _Sheet):
    rng, s = sh.rng, sh.s
    area = sh.h * sh.w / (REFERENCE_SIDE * s) ** 2
    for _ in range(rng.poisson(6 * area) + 2):
        thin = rng.random() < 0.5
        width = rng.uniform(1.0, 2.0) if thin else rng.uniform(3.0, 6.0)
        width = max(0.8, width * s)
        length = rng.uniform(0.15, 0.8) * max(sh.h, sh.w)
        pts = _bezier(rng, sh, length) if rng.random() < 0.6 else _polyline(rng, sh, length)
        widths = (np.full(len(pts), width) if rng.random() < 0.5
                  else _wander(rng, len(pts), 0.5 * width, width))
        halo = rng.random() < 0.35
        box = sh.box(pts, 3 * width + 4)
        if box[1] - box[0] < 2 or box[3] - box[2] < 2:
            continue
        cover = sh.polyline_cover(pts, widths, box)
        if rng.random() < 0.5:  # soft profile: the edges fade out
            cover = np.clip(1.4 * cv2.GaussianBlur(cover, (0, 0), 0.3 * width + 0.3), 0, 1)
        strength = rng.uniform(0.55, 1.0)
        bright = rng.random() < 0.55
        target = (np.array([0.95, 0.95, 0.93]) * rng.uniform(0.9, 1.05) if bright
                  else np.full(3, rng.uniform(0.02, 0.15))).astype(np.float32)
        kind = "thin scratch" if thin else "wide scratch"
        if halo:  # a faint glow around the scratch, under the truth weight
            glow = cv2.GaussianBlur(cover, (0, 0), 1.5 * width + 1)
            sh.blend(None, 0.18 * glow / max(float(glow.max()), 1e-6), target, box)
        sh.blend(kind, strength * cover, target, box)
    for _ in range(rng.poisson(40 * area)):
        _dust(sh, rng.choice(["disc", "blob", "cluster"], p=[0.5, 0.3, 0.2]))


def _dust(sh: _Sheet, shape: str):
    rng, s = sh.rng, sh.s
    c = rng.uniform([0, 0], [sh.w, sh.h])
    r = rng.uniform(0.8, 4.0) * s
    spread = 12 * s if shape == "cluster" else r
    box = sh.box(c[None], 2 * spread + 2 * r)
    if box[1] - box[0] < 2 or box[3] - box[2] < 2:
        return
    y0, _, x0, _ = box
    if shape == "disc":
        parts = [(c, r)]
    elif shape == "blob":
        parts = [(c + rng.normal(0, 0.6 * r, 2), r * rng.uniform(0.5, 0.9)) for _ in range(4)]
    else:
        parts = [(c + rng.normal(0, spread / 2, 2), max(0.5, r * rng.uniform(0.25, 0.5)))
                 for _ in range(int(rng.integers(4, 12)))]

    def draw(canvas, ss):
        for centre, radius in parts:
            q = np.round((centre - [x0, y0]) * ss * 16).astype(int)
            cv2.circle(canvas, (int(q[0]), int(q[1])), max(1, round(radius * ss * 16)), 255,
                       -1, cv2.LINE_8, 4)
    bright = rng.random() < 0.5
    target = (np.full(3, rng.uniform(0.85, 1.0)) if bright
              else np.full(3, rng.uniform(0.0, 0.15))).astype(np.float32)
    sh.blend("dust", rng.uniform(0.7, 1.0) * sh.coverage(draw, box), target, box)


def _scan_strokes(damaged, clean, s, rng):
    blur = rng.uniform(0.3, 1.0) * s
    noise = rng.normal(0, rng.uniform(0.01, 0.03), damaged.shape[:2]).astype(np.float32)
    out = []
    for im in (damaged, clean):
        im = cv2.GaussianBlur(im, (0, 0), blur) + noise[:, :, None]
        out.append(np.clip(im, 0, 1).astype(np.float32))
    return out[0], out[1]


# ---------------------------------------------------------------------------------------------
# Family "folds": creases, cracks, tears
# ---------------------------------------------------------------------------------------------


def _age_folds(rgb, rng):
    y = rgb @ _LUMA
    y = (y - 0.5) * rng.uniform(0.65, 0.9) + 0.5 + rng.uniform(0.0, 0.05)
    out = y[:, :, None] * np.array([1.0, 0.86, 0.66], np.float32) + \
        np.array([0.08, 0.06, 0.03], np.float32)
    h, w = rgb.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    r2 = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
    return np.clip(out * (1 - rng.uniform(0.05, 0.25) * r2)[:, :, None], 0, 1).astype(np.float32)


def _draw_folds(sh: _Sheet):
    rng = sh.rng
    for _ in range(int(rng.integers(1, 3))):
        _crease(sh)
    for _ in range(int(rng.integers(1, 4))):
        _crack(sh)
    for _ in range(int(rng.integers(0, 3))):
        _tear(sh, corner=rng.random() < 0.65)


def _crease(sh: _Sheet):
    """A straight fold across the photo: a highlight on one side of the fold line, a shadow
    on the other, of 3-8 px in all, its strength varying along it."""
    rng, s = sh.rng, sh.s
    width = rng.uniform(3.0, 8.0) * s
    p = rng.uniform([0.2 * sh.w, 0.2 * sh.h], [0.8 * sh.w, 0.8 * sh.h])
    ang = rng.uniform(0, np.pi)
    d = np.array([np.cos(ang), np.sin(ang)])
    yy, xx = np.mgrid[:sh.h, :sh.w].astype(np.float32)
    along = (xx - p[0]) * d[0] + (yy - p[1]) * d[1]
    signed = -(xx - p[0]) * d[1] + (yy - p[1]) * d[0]  # distance across the fold
    half = width / 2
    light_w = half * rng.uniform(0.8, 1.2)
    light = np.clip(light_w + 0.5 - signed, 0, 1) * np.clip(signed + 0.5, 0, 1)
    shadow = np.clip(half + 0.5 + signed, 0, 1) * np.clip(0.5 - signed, 0, 1)
    knots = rng.uniform(0.6, 1.0, 12)
    span = float(np.hypot(sh.h, sh.w))
    vary = np.interp(along, np.linspace(-span, span, 12), knots).astype(np.float32)
    sh.blend("crease", rng.uniform(0.55, 0.9) * vary * light,
             np.array([0.97, 0.96, 0.92], np.float32))
    sh.blend("crease", rng.uniform(0.45, 0.8) * vary * shadow,
             np.full(3, rng.uniform(0.05, 0.2), np.float32))


def _crack(sh: _Sheet):
    """A curved crack: a meandering dark line of 1-3 px with a branch or two."""
    rng, s = sh.rng, sh.s
    width = rng.uniform(1.0, 3.0) * s
    pts = _meander(rng, rng.uniform([0, 0], [sh.w, sh.h]), rng.uniform(0, 2 * np.pi),
                   rng.uniform(0.1, 0.4) * max(sh.h, sh.w), s)
    paths = [pts]
    for _ in range(int(rng.integers(0, 3))):
        start = pts[int(rng.integers(0, len(pts)))]
        paths.append(_meander(rng, start, rng.uniform(0, 2 * np.pi),
                              rng.uniform(0.02, 0.1) * max(sh.h, sh.w), s))
    target = np.full(3, rng.uniform(0.02, 0.2), np.float32)
    strength = rng.uniform(0.6, 0.95)
    for i, path in enumerate(paths):
        box = sh.box(path, width + 2)
        if box[1] - box[0] < 2 or box[3] - box[2] < 2:
            continue
        widths = _wander(rng, len(path), 0.5 * width, width) * (0.7 if i else 1.0)
        sh.blend("crack", strength * sh.polyline_cover(path, np.maximum(widths, 0.8), box),
                 target, box)


def _meander(rng, start, angle, length, s) -> np.ndarray:
    step = 1.0
    n = max(4, int(length / step))
    turn = np.cumsum(rng.normal(0, 0.03, n)) + rng.normal(0, 0.15, n)  # wanders, jitters
    ang = angle + turn
    return start + np.cumsum(np.stack([np.cos(ang), np.sin(ang)], 1) * step, 0)


def _tear(sh: _Sheet, corner: bool):
    """A torn corner (a jagged cut across it) or a torn bite out of an edge; what is behind is
    paper or black."""
    rng, s = sh.rng, sh.s
    h, w = sh.h, sh.w
    depth = rng.uniform(25, 110) * s
    if corner:
        cx, cy = [(0, 0), (w, 0), (w, h), (0, h)][int(rng.integers(0, 4))]
        sx, sy = (1 if cx == 0 else -1), (1 if cy == 0 else -1)
        a, b = depth * rng.uniform(0.6, 1.8), depth * rng.uniform(0.6, 1.8)
        n = max(6, int((a + b) / (4 * s)))
        t = np.linspace(0, 1, n)
        edge = np.stack([cx + sx * a * (1 - t), cy + sy * b * t], 1)
        edge[1:-1] += rng.normal(0, 2.5 * s, (n - 2, 2))
        poly = np.vstack([[cx - sx * 2, cy - sy * 2], [cx + sx * a, cy - sy * 2], edge,
                          [cx - sx * 2, cy + sy * b]])
    else:  # a bite out of the top, bottom, left or right edge
        side = int(rng.integers(0, 4))
        length = depth * rng.uniform(1.5, 4.0)
        n = max(6, int(length / (4 * s)))
        t = np.linspace(0, 1, n)
        along = rng.uniform(0, (w if side < 2 else h) - length) + t * length
        inward = depth * 0.5 * np.sin(np.pi * t) * rng.uniform(0.5, 1.0) + \
            np.r_[0, rng.normal(0, 2.0 * s, n - 2), 0]
        edge_pos = {0: 0, 1: h, 2: 0, 3: w}[side]
        sign = 1 if side in (0, 2) else -1
        cross = edge_pos + sign * inward - sign * 2
        pts = np.stack([along, cross], 1) if side < 2 else np.stack([cross, along], 1)
        poly = pts
    box = sh.box(poly, 2)
    y0, _, x0, _ = box

    def draw(canvas, ss):
        q = np.round((poly - [x0, y0]) * ss * 16).astype(np.int32)
        cv2.fillPoly(canvas, [q], 255, cv2.LINE_8, 4)
    behind = (PAPER * rng.uniform(0.92, 1.05) if rng.random() < 0.6
              else np.full(3, rng.uniform(0.0, 0.08))).astype(np.float32)
    sh.blend("tear", sh.coverage(draw, box), behind, box)


def _scan_folds(damaged, clean, s, rng):
    q = int(rng.integers(55, 90))
    return _jpeg(damaged, q), _jpeg(clean, q)


# ---------------------------------------------------------------------------------------------
# Family "surface": stains, flaking, mould
# ---------------------------------------------------------------------------------------------


def _age_surface(rgb, rng):
    y = (rgb @ _LUMA)[:, :, None]
    sat = rng.uniform(0.45, 0.8)
    out = y + sat * (rgb - y)  # faded dyes: less saturation, the cyan layer weakest
    out = out * rng.uniform([1.0, 0.9, 0.85], [1.08, 0.97, 0.95]) + \
        rng.uniform([0.03, 0.0, 0.02], [0.08, 0.03, 0.06])
    return np.clip(out, 0, 1).astype(np.float32)


def _draw_surface(sh: _Sheet):
    rng, s = sh.rng, sh.s
    area = sh.h * sh.w / (REFERENCE_SIDE * s) ** 2
    for _ in range(rng.poisson(1.5 * area) + 1):
        _stain(sh)
    for _ in range(rng.poisson(4 * area) + 1):
        _flake(sh)
    for _ in range(rng.poisson(2 * area)):
        _mould(sh)


def _blob_field(sh: _Sheet, r: float):
    """(box, signed radial field) of an irregular blob of radius ~r: field <= 1 inside."""
    rng = sh.rng
    c = rng.uniform([0, 0], [sh.w, sh.h])
    box = sh.box(c[None], 1.5 * r)
    y0, y1, x0, x1 = box
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    ang = np.arctan2(yy - c[1], xx - c[0])
    wobble = sum(rng.uniform(0, 0.15) * np.cos(k * ang + rng.uniform(0, 2 * np.pi))
                 for k in (2, 3, 5, 7))
    rough = 0.25 * (_noise_field(rng, y1 - y0, x1 - x0, max(3.0, r / 4)) - 0.5)
    return box, np.hypot(xx - c[0], yy - c[1]) / (r * (1 + wobble)) + rough


def _stain(sh: _Sheet):
    rng, s = sh.rng, sh.s
    box, f = _blob_field(sh, rng.uniform(20, 80) * s)
    if f.size < 4:
        return
    inside = np.clip((1 - f) * 30, 0, 1)  # about 1 px of anti-aliasing at the rim
    rim = np.clip(1 - np.abs(f - 0.96) / 0.05, 0, 1) * inside
    tint = np.array([0.62, 0.48, 0.28], np.float32) * rng.uniform(0.7, 1.1)
    sh.blend("stain", rng.uniform(0.3, 0.5) * inside, tint, box)
    sh.blend("stain", rng.uniform(0.4, 0.7) * rim, tint * 0.6, box)


def _flake(sh: _Sheet):
    rng, s = sh.rng, sh.s
    box, f = _blob_field(sh, rng.uniform(3, 25) * s)
    if f.size < 4:
        return
    inside = np.clip((1 - f) * 8, 0, 1)
    colour = (PAPER * rng.uniform(0.95, 1.07)).astype(np.float32)
    sh.blend("flake", rng.uniform(0.85, 1.0) * inside, colour, box)


def _mould(sh: _Sheet):
    rng, s = sh.rng, sh.s
    c = rng.uniform([0, 0], [sh.w, sh.h])
    spread = rng.uniform(10, 40) * s
    n = int(rng.integers(5, 25))
    centres = c + rng.normal(0, spread / 2, (n, 2))
    radii = rng.uniform(0.7, 2.5, n) * s
    box = sh.box(centres, 3 * s + 3)
    if box[1] - box[0] < 2 or box[3] - box[2] < 2:
        return
    y0, _, x0, _ = box

    def draw(canvas, ss):
        for q, r in zip(np.round((centres - [x0, y0]) * ss * 16).astype(int), radii):
            cv2.circle(canvas, (int(q[0]), int(q[1])), max(1, round(r * ss * 16)), 255,
                       -1, cv2.LINE_8, 4)
    target = np.array([0.2, 0.17, 0.1], np.float32) * rng.uniform(0.5, 1.2)
    sh.blend("mould", rng.uniform(0.6, 0.95) * sh.coverage(draw, box), target, box)


def _scan_surface(damaged, clean, s, rng):
    h, w = damaged.shape[:2]
    blur = rng.uniform(0.3, 1.2) * s
    grain = rng.normal(0, rng.uniform(0.008, 0.025), (h, w)).astype(np.float32)
    axis = int(rng.integers(0, 2))  # banding along the scanner's rows or columns
    n = w if axis else h
    band = cv2.GaussianBlur(rng.normal(0, 1, (1, n)).astype(np.float32), (0, 0), 3)[0]
    band = band / max(float(band.std()), 1e-6) * rng.uniform(0.005, 0.02)
    band = band[None, :] if axis else band[:, None]
    q = int(rng.integers(60, 92))
    out = []
    for im in (damaged, clean):
        im = cv2.GaussianBlur(im, (0, 0), blur) + (grain + band)[:, :, None]
        out.append(_jpeg(np.clip(im, 0, 1).astype(np.float32), q))
    return out[0], out[1]


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    u8 = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    _, buf = cv2.imencode(".jpg", u8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32) / 255.0


_FAMILY = {
    "strokes": (_age_strokes, _draw_strokes, _scan_strokes),
    "folds": (_age_folds, _draw_folds, _scan_folds),
    "surface": (_age_surface, _draw_surface, _scan_surface),
}
