"""Faint stretches of scratches, followed along straight runs of the network's moderate
evidence.

On a faint scratch (35-60 % opacity) the U-Net's probability is mostly 0.3-0.85, under its
threshold of 0.92, and so is its probability on much of a busy photo's texture: pixel by
pixel the two cannot be told apart (session 9, training photos: 70 % of the missed faint
scratch pixels score 0.3-0.85, as do 12 % of the pixels far from any defect). What tells them
apart is their shape: a scratch runs straight across the photo for hundreds of pixels, a
grass blade or a ripple for a few dozen. So the map is averaged along straight segments of
:data:`LENGTH` pixels at :data:`ANGLES` orientations (on a copy of the map shrunk by
:data:`SHRINK`, where the longest segment covers a third of a 1024 px scan) less the same
average :data:`OFFSET` pixels to each side; a pixel whose best orientation scores above
:data:`MIN_CONTRAST` and whose own probability is above :data:`MIN_PROB` is a scratch pixel.

A scratch removes the emulsion (paper white) or adds dirt (near black): on a colour scan it
pulls the photo's colour toward grey and does not change its hue. Line pixels whose colour
is not such a blend of the surroundings with grey (a golden grass stem against a blue sky)
are left out (:data:`MAX_MISFIT`).

Only lines that the detector has already found somewhere are followed (:func:`long_lines`):
a straight line that nothing reaches the network's threshold on is as often a road marking
or a rail as a scratch.

Chosen on scans of the training photos (faint scratches, all damage, hairlines, colour
scans and ageing only; ``training/tune_lines.py`` prints the grid, on other seeds than the
choice was made on): the faint scans' F1 0.796 -> 0.840, all damage 0.911 -> 0.921,
hairlines 0.813 -> 0.817, colour scans 0.809 -> 0.827; ageing alone flags 0.07 -> 0.08 %.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from photomend.ops.morphology import touching

#: The probability map is searched at 1/SHRINK of the detection size (faster; still wide
#: enough for a 1-px line to register).
SHRINK = 2
#: Segment length (px at the shrunk size) and number of orientations over 180 degrees (the
#: end of a segment moves at most ~2 px between neighbouring orientations).
LENGTH, ANGLES = 161, 64
#: Distance (px at the shrunk size) of the two side segments subtracted from the centre one.
OFFSET = 3
#: The map is clipped at this probability before averaging, so that a short stretch of
#: certain detection does not carry a whole segment.
CLIP = 0.6
#: Smallest line contrast (in units of :data:`CLIP`) and own probability of a line pixel.
MIN_CONTRAST = 0.3
MIN_PROB = 0.3
#: Largest distance (opponent chroma) between a pixel's colour and the nearest blend of its
#: surroundings' colour with grey, averaged over 5 x 5 pixels.
MAX_MISFIT = 0.03


def long_lines(prob: np.ndarray, rgb: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """Bool HxW mask of the faint straight stretches of the scratches in ``detected`` (the
    detector's decisions so far) that ``prob`` (the U-Net's probability map of ``rgb``,
    float32 HxWx3 RGB in [0, 1] of the same size) scores under its threshold.

    Only the lines that some detection already lies on are kept: a line that no pixel of
    the network's map reaches its threshold on is as often a road marking, a rail or a stalk
    as a scratch (``training/tune_lines.py``: keeping them too, ageing alone flags 0.16 %
    instead of 0.08 % and hairline-only scans score F1 0.791 instead of 0.817, for 0.845
    instead of 0.840 on the faint scans).

    >>> rng = np.random.default_rng(0)
    >>> prob = rng.uniform(0.0, 0.4, (300, 400)).astype(np.float32)  # texture-like clutter
    >>> prob[150:152, 20:380] = 0.7  # a long line of moderate evidence...
    >>> detected = np.zeros_like(prob, dtype=bool); detected[150, 40:60] = True  # ...found here
    >>> rgb = np.full((300, 400, 3), 0.5, np.float32)
    >>> m = long_lines(prob, rgb, detected)
    >>> bool(m[150, 200]), bool(m[151, 300]), int(m[:140].sum())
    (True, True, 0)
    >>> bool(long_lines(prob, rgb, np.zeros_like(detected)).any())  # a line nobody found
    False
    """
    prob = np.asarray(prob, np.float32)
    if not detected.any():
        return np.zeros(prob.shape, bool)
    return touching(line_pixels(prob, line_contrast(prob), grey_blend_misfit(rgb)), detected)


def line_pixels(prob: np.ndarray, contrast: np.ndarray, misfit: np.ndarray) -> np.ndarray:
    """The decision of :func:`long_lines` from its three maps (:func:`line_contrast`,
    :func:`grey_blend_misfit`): line contrast above :data:`MIN_CONTRAST`, own probability
    above :data:`MIN_PROB`, colour misfit under :data:`MAX_MISFIT`."""
    return (contrast > MIN_CONTRAST) & (prob > MIN_PROB) & (misfit < MAX_MISFIT)


def line_contrast(prob: np.ndarray) -> np.ndarray:
    """Per pixel, the best over :data:`ANGLES` orientations of the mean of ``min(prob, CLIP) /
    CLIP`` along a straight segment through it less the mean along the two segments beside it
    (float32 HxW, at full size; 1 on a perfect line over empty ground, <= 0 on uniform ground).
    """
    h, w = prob.shape
    small = cv2.resize(np.minimum(prob, CLIP) / CLIP, (max(1, w // SHRINK), max(1, h // SHRINK)),
                       interpolation=cv2.INTER_AREA)
    best = np.full(small.shape, -1.0, np.float32)
    for k in _kernels(LENGTH, OFFSET, ANGLES):
        np.maximum(best, cv2.filter2D(small, -1, k, borderType=cv2.BORDER_REFLECT), out=best)
    return cv2.resize(best, (w, h), interpolation=cv2.INTER_LINEAR)


@lru_cache(maxsize=4)
def _kernels(length: int, offset: int, angles: int) -> tuple[np.ndarray, ...]:
    """One float32 kernel per orientation: +1 spread along the centre segment, -0.5 along each
    side segment (each segment's weights sum to its weight; bilinear splats every 1/4 px)."""
    r = length // 2 + offset + 2
    t = np.linspace(-length / 2, length / 2, 4 * length + 1)
    out = []
    for a in np.pi * np.arange(angles) / angles:
        d, n = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
        k = np.zeros((2 * r + 1, 2 * r + 1), np.float64)
        for shift, weight in ((0.0, 1.0), (offset, -0.5), (-offset, -0.5)):
            x = r + t * d[0] + shift * n[0]
            y = r + t * d[1] + shift * n[1]
            x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
            fx, fy = x - x0, y - y0
            wgt = weight / len(t)
            for dy, dx, share in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                                  (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
                np.add.at(k, (y0 + dy, x0 + dx), wgt * share)
        out.append(k.astype(np.float32))
    return tuple(out)


def grey_blend_misfit(rgb: np.ndarray) -> np.ndarray:
    """Per pixel, how far its opponent chroma ``(r - g, (r + g) / 2 - b)`` lies from the
    chroma of its surroundings (a 9 x 9 median) scaled by a factor in [0, 1], i.e. from any
    blend of the surroundings with grey; averaged over 5 x 5 pixels (float32 HxW).

    >>> img = np.zeros((40, 40, 3), np.float32); img[:] = (0.2, 0.4, 0.8)  # blue sky
    >>> img[:, 20] = (0.6, 0.7, 0.9)                       # a whitish scratch: a grey blend
    >>> img[10:30, 10] = (0.8, 0.6, 0.1)                   # a golden stem: not one
    >>> m = grey_blend_misfit(img)
    >>> bool(m[20, 20] < 0.03), bool(m[20, 10] > 0.03)
    (True, True)
    """
    rgb = np.asarray(rgb, np.float32)
    bg = cv2.medianBlur(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8), 9)
    c, cb = _chroma(rgb), _chroma(bg.astype(np.float32) / 255)
    k = np.clip((c * cb).sum(-1) / np.maximum((cb * cb).sum(-1), 1e-6), 0.0, 1.0)
    misfit = np.sqrt(((c - k[..., None] * cb) ** 2).sum(-1)).astype(np.float32)
    return cv2.blur(misfit, (5, 5))


def _chroma(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.stack([r - g, 0.5 * (r + g) - b], axis=-1)
