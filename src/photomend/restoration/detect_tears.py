"""Torn or missing corners: a uniform patch of paper or scanner bed in a corner of the scan,
cut off from the photo by a sharp, jagged edge.

The U-Net finds thin defects well but misses most torn corners after its hard-negative
fine-tune (uniform dark and bright regions near the border were its costliest false
positives), and neither top-hats nor line filters respond inside a large uniform region. A torn
corner is, however, easy to describe: flood-fill each corner of the (lightly smoothed) scan
with a small colour tolerance, and keep the region when it

* stays within :data:`MAX_EXTENT` of the width and height from its corner (a uniform sky or
  studio background spreads further and is refused),
* is at least :data:`MIN_AREA` of the scan (in pixels at 1024 px),
* is very bright and grey (paper, a white scanner bed) or very dark (a black bed), and
* is cut off by a sharp edge: most pixels just outside it differ clearly from it (a vignette or
  a soft gradient in the photo does not).
"""

from __future__ import annotations

import cv2
import numpy as np

from photomend.ops.morphology import disk

#: A corner region may reach at most this share of the width / height from its corner.
MAX_EXTENT = 0.3
#: Minimum area of a corner region, as a share of a 1024 x 1024 scan.
MIN_AREA = 150 / 1024**2
#: Flood-fill tolerance per channel (smoothed RGB in [0, 1]).
TOLERANCE = 0.06
#: Share of the ring just outside the region that must differ from it by :data:`EDGE_STEP`.
EDGE_SHARE = 0.6
EDGE_STEP = 0.12


def corner_tears(rgb: np.ndarray) -> np.ndarray:
    """Bool HxW mask of the torn corners of ``rgb`` (float32 HxWx3 RGB in [0, 1]).

    >>> img = np.full((200, 300, 3), 0.45, np.float32); img[::2, ::3] = 0.3  # busy photo
    >>> img[:40, :50] = 0.92  # a white corner patch with a sharp edge
    >>> m = corner_tears(img)
    >>> bool(m[5, 5]), bool(m[100, 150]), bool(m[5, 290])
    (True, False, False)
    """
    rgb = np.asarray(rgb, np.float32)
    h, w = rgb.shape[:2]
    out = np.zeros((h, w), bool)
    if min(h, w) < 16:
        return out
    smooth = cv2.GaussianBlur(rgb, (0, 0), 1.2)
    min_area = MIN_AREA * h * w
    ring_k = disk(3)
    for cy, cx in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)):
        ff = np.zeros((h + 2, w + 2), np.uint8)
        tol = (TOLERANCE,) * 3
        cv2.floodFill(smooth.copy(), ff, (cx, cy), (0, 0, 0), tol, tol,
                      4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
        region = ff[1:-1, 1:-1].astype(bool)
        area = int(region.sum())
        if area < min_area:
            continue
        ys, xs = np.nonzero(region)
        if (ys.max() - ys.min() + 1 > MAX_EXTENT * h) or (xs.max() - xs.min() + 1 > MAX_EXTENT * w):
            continue
        colour = smooth[region].mean(0)
        bright = colour.min() > 0.7 and colour.max() - colour.min() < 0.2
        dark = colour.max() < 0.18
        if not (bright or dark):
            continue
        ring = cv2.dilate(region.astype(np.uint8), ring_k).astype(bool) & ~region
        if not ring.any():
            continue
        step = np.abs(smooth[ring] - colour).max(1)
        if (step > EDGE_STEP).mean() < EDGE_SHARE:
            continue
        out |= region
    return out
