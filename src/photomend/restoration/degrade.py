"""Synthetic damage for old-photo restoration: an old-looking scan plus its exact defect mask.

:func:`degrade` takes a clean photo (float32 HxWx3 RGB in [0, 1]) and returns a
:class:`Degraded` scan with

* **defects**, the things a restoration should find and fill, each drawn with a known footprint:
  thin bright and dark scratches (long, curved, varying width and opacity; hairlines of at most
  2 px among them), dust specks and fibres, branching cracks, folds (a crease highlight with a
  dark edge), stains and water marks (a tinted blot with a darker tide line), torn or missing
  corners;
* **global ageing**, which is *not* a defect and never enters the mask: fading, sepia or
  monochrome toning, a colour cast, vignetting, blur, film grain and JPEG artefacts.

Sizes are in pixels of a scan whose long side is :data:`REFERENCE_SIDE` (the detector's working
size) and scale with the image unless ``scale`` is given. Everything is drawn from one
``numpy.random.Generator`` seeded by ``seed``: the same photo and seed give the same scan and
mask, bit for bit.

>>> import numpy as np
>>> photo = np.full((128, 128, 3), 0.5, np.float32)
>>> a = degrade(photo, seed=3)
>>> b = degrade(photo, seed=3)
>>> a.image.shape, a.mask.dtype, bool((a.image == b.image).all() and (a.mask == b.mask).all())
((128, 128, 3), dtype('bool'), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

#: Long side, in pixels, at which defect sizes are defined (the detector's working size).
REFERENCE_SIDE = 1024
#: Every defect kind :func:`degrade` can draw.
DEFECT_KINDS = ("scratch", "hairline", "dust", "fibre", "crack", "fold", "stain", "tear")
#: The tonings of the global ageing (:func:`degrade`'s ``tone``).
TONES = ("colour", "sepia", "mono")
#: Coverage (0-1, at 1x) above which a drawn pixel counts as defect in the ground truth.
COVER_THRESHOLD = 0.25

# Expected number of each defect per REFERENCE_SIDE**2 pixels at amount=1.
_COUNTS = {"scratch": 3.0, "hairline": 3.0, "dust": 60.0, "fibre": 3.0, "crack": 0.8,
           "fold": 0.35, "stain": 0.7, "tear": 0.3}


@dataclass(frozen=True, eq=False)
class Degraded:
    """A synthetic old scan.

    Attributes
    ----------
    image : float32 HxWx3 in [0, 1], the damaged, aged scan.
    mask : bool HxW, True on every defect pixel (ageing never counts).
    clean : float32 HxWx3, the same ageing without the defects (what a perfect repair gives).
    kinds : defect kind -> bool HxW mask of that kind alone (only kinds that were drawn).
    """

    image: np.ndarray
    mask: np.ndarray
    clean: np.ndarray
    kinds: dict[str, np.ndarray] = field(default_factory=dict)


def degrade(
    image: np.ndarray,
    *,
    seed: int = 0,
    defects: tuple[str, ...] | None = DEFECT_KINDS,
    ageing: bool = True,
    amount: float = 1.0,
    opacity: tuple[float, float] = (0.35, 1.0),
    scale: float | None = None,
    supersample: int = 2,
    tone: str | None = None,
) -> Degraded:
    """Return an old-looking copy of ``image`` with the exact mask of the defects drawn on it.

    Parameters
    ----------
    image : float HxWx3 RGB in [0, 1] (not modified).
    seed : seed of every random choice.
    defects : the defect kinds to draw (see :data:`DEFECT_KINDS`); ``()`` or None for none.
    ageing : apply random global ageing (fading, toning, blur, grain, JPEG).
    amount : multiplies the expected number of defects.
    opacity : range of the peak opacity of scratches, hairlines, fibres and cracks.
    scale : defect size factor; None uses ``long side / REFERENCE_SIDE``.
    supersample : defects are drawn at this factor and averaged down (anti-aliased edges).
    tone : the ageing's toning, ``'colour'``, ``'sepia'`` or ``'mono'``; None draws it (30 /
        40 / 30 %). Every other random choice is the same either way.

    Returns
    -------
    Degraded
    """
    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB array, got shape {rgb.shape}")
    defects = tuple(defects or ())
    unknown = set(defects) - set(DEFECT_KINDS)
    if unknown:
        raise ValueError(f"unknown defect kinds {sorted(unknown)}; choose from {DEFECT_KINDS}")
    if tone is not None and tone not in TONES:
        raise ValueError(f"unknown tone {tone!r}; choose from {TONES}")
    rgb = np.clip(rgb.astype(np.float32), 0.0, 1.0)
    h, w = rgb.shape[:2]
    rng = np.random.default_rng(seed)
    s = max(h, w) / REFERENCE_SIDE if scale is None else float(scale)
    age = _Ageing.draw(rng) if ageing else None
    if age is not None and tone is not None:
        age = replace(age, tone=tone)
    base = age.before(rgb, rng) if age else rgb.copy()

    canvas = _Canvas(h, w, supersample, rng)
    area = h * w / REFERENCE_SIDE**2 / max(s, 1e-6) ** 2
    for kind in defects:
        n = rng.poisson(_COUNTS[kind] * amount * area)
        for _ in range(n):
            _DRAW[kind](canvas, rng, s, opacity)
    damaged, kinds = canvas.composite(base)
    mask = np.zeros((h, w), bool)
    for m in kinds.values():
        mask |= m
    if age:
        damaged, clean = age.after(damaged, base, rng)
    else:
        clean = base
    return Degraded(image=damaged, mask=mask, clean=clean, kinds=kinds)


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------


class _Canvas:
    """Supersampled layers: per kind a coverage layer (the truth), per polarity an alpha layer."""

    def __init__(self, h: int, w: int, ss: int, rng: np.random.Generator) -> None:
        self.h, self.w, self.ss = h, w, int(ss)
        self.H, self.W = h * self.ss, w * self.ss
        self.cover: dict[str, np.ndarray] = {}
        self.alpha = {p: np.zeros((self.H, self.W), np.uint8) for p in ("dark", "light")}
        tint = rng.uniform(-0.03, 0.03, 3)
        self.colour = {
            "dark": np.clip(rng.uniform(0.02, 0.22) + tint, 0, 1).astype(np.float32),
            "light": np.clip(rng.uniform(0.86, 1.0) + np.array([0.0, -0.02, -0.06]) + tint, 0, 1
                             ).astype(np.float32),
        }
        self.stains: list[tuple[np.ndarray, np.ndarray]] = []  # (alpha at 1x, colour)
        self.fills: list[tuple[np.ndarray, np.ndarray]] = []   # (cover at 1x, colour), opaque

    def layer(self, kind: str) -> np.ndarray:
        if kind not in self.cover:
            self.cover[kind] = np.zeros((self.H, self.W), np.uint8)
        return self.cover[kind]

    def polyline(self, kind: str, pts: np.ndarray, widths: np.ndarray, ops: np.ndarray,
                 polarity: str) -> None:
        """Draw a path segment by segment (width and opacity vary along it), in 1x pixels."""
        cover, alpha, ss = self.layer(kind), self.alpha[polarity], self.ss
        p = np.round(pts * ss * 16).astype(np.int32)  # 4 fractional bits (shift=4)
        for i in range(len(p) - 1):
            t = max(1, int(round(widths[i] * ss)))
            a, b = tuple(int(v) for v in p[i]), tuple(int(v) for v in p[i + 1])
            cv2.line(cover, a, b, 255, t, cv2.LINE_8, 4)
            cv2.line(alpha, a, b, int(round(255 * ops[i])), t, cv2.LINE_8, 4)

    def blob(self, kind: str, centre, axes, angle: float, op: float, polarity: str) -> None:
        ss = self.ss
        c = (int(round(centre[0] * ss * 16)), int(round(centre[1] * ss * 16)))
        ax = (max(1, int(round(axes[0] * ss * 16))), max(1, int(round(axes[1] * ss * 16))))
        cv2.ellipse(self.layer(kind), c, ax, angle, 0, 360, 255, -1, cv2.LINE_8, 4)
        cv2.ellipse(self.alpha[polarity], c, ax, angle, 0, 360, int(255 * op), -1, cv2.LINE_8, 4)

    def _down(self, layer: np.ndarray) -> np.ndarray:
        if self.ss == 1:
            return layer.astype(np.float32) / 255.0
        return cv2.resize(layer, (self.w, self.h), interpolation=cv2.INTER_AREA
                          ).astype(np.float32) / 255.0

    def composite(self, base: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        out = base.copy()
        kinds = {k: self._down(c) >= COVER_THRESHOLD for k, c in self.cover.items()}
        for a, colour in self.stains:
            out = out * (1 - a[:, :, None]) + colour * a[:, :, None]
        for polarity in ("dark", "light"):
            a = self._down(self.alpha[polarity])[:, :, None]
            if a.any():
                out = out * (1 - a) + self.colour[polarity] * a
        for c, colour in self.fills:
            out = out * (1 - c[:, :, None]) + colour * c[:, :, None]
        return np.clip(out, 0, 1).astype(np.float32), {k: m for k, m in kinds.items() if m.any()}


def _smooth_noise(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """n values in [lo, hi] that wander smoothly."""
    k = max(2, n // 12 + 2)
    knots = rng.uniform(lo, hi, k)
    return np.interp(np.linspace(0, k - 1, n), np.arange(k), knots)


def _walk(rng, start, angle, length, step, wobble, drift=0.0) -> np.ndarray:
    n = max(2, int(length / step))
    turn = np.cumsum(rng.normal(0, wobble, n)) * 0.3 + drift * np.arange(n)
    ang = angle + turn
    d = np.stack([np.cos(ang), np.sin(ang)], 1) * step
    return np.asarray(start, float) + np.vstack([[0, 0], np.cumsum(d, 0)[:-1]])


def _random_start(canvas: _Canvas, rng) -> np.ndarray:
    return rng.uniform([0, 0], [canvas.w, canvas.h])


def _draw_scratch(canvas, rng, s, opacity, *, hair=False):
    long_side = max(canvas.w, canvas.h)
    length = rng.uniform(0.25, 1.2) * long_side
    start = _random_start(canvas, rng)
    angle = rng.uniform(0, 2 * np.pi) if rng.random() < 0.5 else rng.normal(np.pi / 2, 0.3) + \
        np.pi * rng.integers(0, 2)  # film scratches run mostly along one axis
    # start outside-ish so it crosses the frame
    start = start - 0.5 * length * np.array([np.cos(angle), np.sin(angle)])
    pts = _walk(rng, start, angle, length, step=max(2.0, 4 * s), wobble=0.02,
                drift=rng.normal(0, 0.0015))
    n = len(pts)
    wmax = (rng.uniform(0.5, 2.0) if hair else rng.uniform(2.0, 4.5)) * s
    widths = _smooth_noise(rng, n, 0.6 * wmax, wmax) if not hair else np.full(n, wmax)
    peak = rng.uniform(*opacity)
    ops = _smooth_noise(rng, n, 0.7 * peak, peak)
    # broken scratches: drop a few stretches
    if rng.random() < 0.4:
        keep = _smooth_noise(rng, n, -1, 1) > -0.5
        ops = np.where(keep, ops, 0)
        widths = np.where(keep, widths, 0)
        for run in _runs(keep):
            canvas.polyline("hairline" if hair else "scratch", pts[run], widths[run], ops[run],
                            "light" if rng.random() < 0.6 else "dark")
        return
    canvas.polyline("hairline" if hair else "scratch", pts, widths, ops,
                    "light" if rng.random() < 0.6 else "dark")


def _runs(keep: np.ndarray):
    idx = np.flatnonzero(np.diff(np.r_[0, keep.astype(int), 0]))
    for a, b in zip(idx[::2], idx[1::2]):
        if b - a >= 2:
            yield slice(a, b)


def _draw_hairline(canvas, rng, s, opacity):
    _draw_scratch(canvas, rng, s, opacity, hair=True)


def _draw_dust(canvas, rng, s, opacity):
    centre = _random_start(canvas, rng)
    r = rng.uniform(0.6, 1.0) * (rng.pareto(2.0) + 1.0) * s
    r = min(r, 8 * s)
    axes = (r, r * rng.uniform(0.5, 1.0))
    polarity = "dark" if rng.random() < 0.55 else "light"
    canvas.blob("dust", centre, axes, rng.uniform(0, 180), rng.uniform(0.6, 1.0), polarity)
    if rng.random() < 0.3:  # irregular speck: a second overlapping blob
        off = rng.normal(0, r, 2)
        canvas.blob("dust", centre + off, (axes[0] * 0.7, axes[1] * 0.7), rng.uniform(0, 180),
                    rng.uniform(0.6, 1.0), polarity)


def _draw_fibre(canvas, rng, s, opacity):
    length = rng.uniform(10, 70) * s
    pts = _walk(rng, _random_start(canvas, rng), rng.uniform(0, 2 * np.pi), length,
                step=max(1.0, 1.5 * s), wobble=0.35)
    n = len(pts)
    width = rng.uniform(0.8, 2.0) * s
    peak = rng.uniform(max(opacity[0], 0.5), 1.0)
    canvas.polyline("fibre", pts, np.full(n, width), np.full(n, peak),
                    "dark" if rng.random() < 0.6 else "light")


def _draw_crack(canvas, rng, s, opacity):
    polarity = "dark" if rng.random() < 0.6 else "light"
    peak = rng.uniform(max(opacity[0], 0.5), 1.0)
    stack = [(_random_start(canvas, rng), rng.uniform(0, 2 * np.pi),
              rng.uniform(0.1, 0.4) * max(canvas.w, canvas.h), 0)]
    while stack:
        start, angle, length, depth = stack.pop()
        # jagged: straight pieces with sharp small turns
        pts = [np.asarray(start, float)]
        travelled = 0.0
        while travelled < length:
            piece = rng.uniform(3, 12) * s
            angle += rng.normal(0, 0.45)
            pts.append(pts[-1] + piece * np.array([np.cos(angle), np.sin(angle)]))
            travelled += piece
            if depth < 3 and rng.random() < 0.08:
                stack.append((pts[-1].copy(), angle + rng.choice([-1, 1]) * rng.uniform(0.4, 1.2),
                              length * rng.uniform(0.2, 0.5), depth + 1))
        pts = np.array(pts)
        width = rng.uniform(1.0, 2.5) * s * (0.7 ** depth)
        n = len(pts)
        canvas.polyline("crack", pts, _smooth_noise(rng, n, 0.6 * width, width),
                        np.full(n, peak), polarity)


def _draw_fold(canvas, rng, s, opacity):
    h, w = canvas.h, canvas.w
    angle = rng.uniform(0, np.pi)
    centre = _random_start(canvas, rng)
    length = 2.0 * math.hypot(h, w)
    start = centre - 0.5 * length * np.array([np.cos(angle), np.sin(angle)])
    pts = _walk(rng, start, angle, length, step=max(3.0, 6 * s), wobble=0.004)
    n = len(pts)
    width = rng.uniform(1.5, 4.0) * s
    canvas.polyline("fold", pts, _smooth_noise(rng, n, 0.6 * width, width),
                    _smooth_noise(rng, n, 0.45, 0.9), "light")
    normal = np.array([-np.sin(angle), np.cos(angle)]) * (width * 0.5 + 1.0 * s)
    canvas.polyline("fold", pts + normal, np.full(n, max(1.0, 1.0 * s)),
                    _smooth_noise(rng, n, 0.35, 0.7), "dark")


def _draw_stain(canvas, rng, s, opacity):
    h, w = canvas.h, canvas.w
    r = rng.uniform(12, 60) * s
    cx, cy = _random_start(canvas, rng)
    x0, x1 = int(max(0, cx - 1.6 * r)), int(min(w, cx + 1.6 * r + 1))
    y0, y1 = int(max(0, cy - 1.6 * r)), int(min(h, cy + 1.6 * r + 1))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    ang = np.arctan2(yy - cy, xx - cx)
    radius = r * (1 + sum(rng.uniform(0, 0.18) * np.cos(k * ang + rng.uniform(0, 6.3))
                          for k in range(2, 6)))
    dist = np.hypot(xx - cx, yy - cy) / radius
    inside = dist <= 1.0
    rim = np.clip(1 - np.abs(dist - 0.97) / (2.5 * s / r + 0.03), 0, 1)
    a = np.where(inside, rng.uniform(0.3, 0.55), 0.0) + rng.uniform(0.3, 0.5) * rim
    a = np.clip(a, 0, 0.9).astype(np.float32)
    full = np.zeros((h, w), np.float32)
    full[y0:y1, x0:x1] = a
    colour = np.array([0.55, 0.42, 0.25], np.float32) * rng.uniform(0.6, 1.2)
    canvas.stains.append((full, np.clip(colour, 0, 1)))
    cover = np.zeros((h, w), np.uint8)
    cover[y0:y1, x0:x1] = (a >= 0.3) * 255
    layer = canvas.layer("stain")
    big = cv2.resize(cover, (canvas.W, canvas.H), interpolation=cv2.INTER_NEAREST)
    np.maximum(layer, big, out=layer)


def _draw_tear(canvas, rng, s, opacity):
    h, w = canvas.h, canvas.w
    depth = rng.uniform(30, 130) * s
    corner = rng.integers(0, 4)
    cx, cy = (0 if corner in (0, 3) else w), (0 if corner in (0, 1) else h)
    sx, sy = (1 if cx == 0 else -1), (1 if cy == 0 else -1)
    a, b = depth * rng.uniform(0.6, 1.6), depth * rng.uniform(0.6, 1.6)
    # jagged edge from (cx + sx*a, cy) to (cx, cy + sy*b)
    n = max(8, int((a + b) / (3 * s)))
    t = np.linspace(0, 1, n)
    edge = np.stack([cx + sx * a * (1 - t), cy + sy * b * t], 1)
    edge += rng.normal(0, 1.5 * s, edge.shape) + np.cumsum(rng.normal(0, 1.0 * s, edge.shape), 0)
    poly = np.vstack([[cx - sx * 4, cy - sy * 4], [cx + sx * a, cy - sy * 4], edge,
                      [cx - sx * 4, cy + sy * b]])
    ss = canvas.ss
    layer = canvas.layer("tear")
    pts = np.round(poly * ss * 16).astype(np.int32)
    cv2.fillPoly(layer, [pts], 255, cv2.LINE_8, 4)
    cover = np.zeros((canvas.H, canvas.W), np.uint8)
    cv2.fillPoly(cover, [pts], 255, cv2.LINE_8, 4)
    c = canvas._down(cover)
    colour = (np.array([0.93, 0.9, 0.82]) * rng.uniform(0.9, 1.05) if rng.random() < 0.6
              else np.full(3, rng.uniform(0.0, 0.12)))
    canvas.fills.append((c, np.clip(colour, 0, 1).astype(np.float32)))


_DRAW = {"scratch": _draw_scratch, "hairline": _draw_hairline, "dust": _draw_dust,
         "fibre": _draw_fibre, "crack": _draw_crack, "fold": _draw_fold, "stain": _draw_stain,
         "tear": _draw_tear}


# ---------------------------------------------------------------------------------------------
# Global ageing (not a defect)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ageing:
    tone: str            # 'colour', 'sepia' or 'mono'
    contrast: float
    lift: float
    cast: np.ndarray
    vignette: float
    blur: float
    grain: float
    grain_size: float
    jpeg: int | None

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Ageing:
        return cls(
            tone=str(rng.choice(TONES, p=[0.3, 0.4, 0.3])),
            contrast=float(rng.uniform(0.6, 0.97)),
            lift=float(rng.uniform(0.0, 0.1)),
            cast=rng.uniform([0.98, 0.95, 0.85], [1.04, 1.02, 1.0]).astype(np.float32),
            vignette=float(rng.uniform(0.0, 0.3)),
            blur=float(rng.uniform(0.0, 1.0)),
            grain=float(rng.uniform(0.0, 0.035)),
            grain_size=float(rng.uniform(0.0, 1.0)),
            jpeg=int(rng.integers(45, 95)) if rng.random() < 0.6 else None,
        )

    def before(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Print ageing: toning, fading, vignetting, softness (defects are drawn on top)."""
        y = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        if self.tone == "mono":
            out = np.repeat(y[:, :, None], 3, 2)
        elif self.tone == "sepia":
            out = y[:, :, None] * np.array([1.07, 0.95, 0.75], np.float32) + \
                np.array([0.03, 0.02, 0.0], np.float32)
        else:
            sat = 0.55 + 0.4 * self.contrast
            out = y[:, :, None] + sat * (rgb - y[:, :, None])
        out = (out - 0.5) * self.contrast + 0.5 + self.lift
        out = out * self.cast
        h, w = rgb.shape[:2]
        if self.vignette > 0:
            yy, xx = np.ogrid[:h, :w]
            r2 = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
            out = out * (1 - self.vignette * 0.5 * r2)[:, :, None].astype(np.float32)
        if self.blur > 0.2:
            sigma = self.blur * max(h, w) / REFERENCE_SIDE
            out = cv2.GaussianBlur(out.astype(np.float32), (0, 0), sigma)
        return np.clip(out, 0, 1).astype(np.float32)

    def after(self, damaged: np.ndarray, clean: np.ndarray, rng: np.random.Generator):
        """Scan ageing applied alike to the damaged scan and its clean twin: grain, JPEG."""
        h, w = damaged.shape[:2]
        if self.grain > 0:
            noise = rng.normal(0, 1, (h, w)).astype(np.float32)
            if self.grain_size > 0.3:
                noise = cv2.GaussianBlur(noise, (0, 0), self.grain_size)
                noise /= max(float(noise.std()), 1e-6)
            noise = (noise * self.grain)[:, :, None]
            damaged, clean = damaged + noise, clean + noise
        damaged, clean = np.clip(damaged, 0, 1), np.clip(clean, 0, 1)
        if self.jpeg:
            damaged, clean = _jpeg(damaged, self.jpeg), _jpeg(clean, self.jpeg)
        return damaged.astype(np.float32), clean.astype(np.float32)


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    u8 = np.round(rgb * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32) / 255.0
