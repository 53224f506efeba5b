"""Masks without a segmentation network: GrabCut seeded by a box, and a region grown from a
clicked point. Both work on a copy scaled to at most ``WORK_SIDE`` px and return bool masks
at the photo's size."""

from __future__ import annotations

import numpy as np

#: GrabCut and region growing run at most this size (long side, px).
WORK_SIDE = 320
GRABCUT_ITERATIONS = 4
#: When GrabCut keeps less than this fraction of the box, the box itself is the mask.
MIN_FILL = 0.1
#: Colour tolerance of the region grown from a point (8-bit levels between neighbours).
GROW_TOLERANCE = 4


def _to_u8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def grabcut_box(rgb: np.ndarray, box: tuple[float, float, float, float], *,
                context: float = 0.25) -> np.ndarray:
    """Bool HxW mask of the object in ``box`` (x0, y0, x1, y1): GrabCut on the box plus
    ``context`` x its size around it, the box's outside as sure background.

    >>> img = np.zeros((60, 60, 3), np.float32); img[20:40, 20:40] = (1, 0.2, 0.1)
    >>> m = grabcut_box(img, (15, 15, 45, 45))
    >>> bool(m[30, 30]), bool(m[5, 5]), int(m.sum()) in range(300, 500)
    (True, False, True)
    """
    import cv2

    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    wx0, wy0 = int(max(0, x0 - context * bw)), int(max(0, y0 - context * bh))
    wx1, wy1 = int(min(w, np.ceil(x1 + context * bw))), int(min(h, np.ceil(y1 + context * bh)))
    crop = rgb[wy0:wy1, wx0:wx1]
    scale = min(1.0, WORK_SIDE / max(crop.shape[:2]))
    small = cv2.resize(_to_u8(crop), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) \
        if scale < 1 else _to_u8(crop)
    sh, sw = small.shape[:2]
    rect = (int((x0 - wx0) * scale), int((y0 - wy0) * scale),
            max(2, int(bw * scale)), max(2, int(bh * scale)))
    rect = (min(rect[0], sw - 2), min(rect[1], sh - 2),
            min(rect[2], sw - rect[0]), min(rect[3], sh - rect[1]))
    gc = np.zeros((sh, sw), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(small, gc, rect, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_RECT)
        fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.uint8)
    except cv2.error:  # a box too thin to model
        fg = np.zeros((sh, sw), np.uint8)
    if fg[rect[1]:rect[1] + rect[3], rect[0]:rect[0] + rect[2]].mean() < MIN_FILL:
        fg[:] = 0  # GrabCut found nothing that stands out: the box itself
        fg[rect[1]:rect[1] + rect[3], rect[0]:rect[0] + rect[2]] = 1
    fg = cv2.resize(fg, (wx1 - wx0, wy1 - wy0), interpolation=cv2.INTER_NEAREST)
    out = np.zeros((h, w), bool)
    out[wy0:wy1, wx0:wx1] = fg.astype(bool)
    return out


def grow_from_point(rgb: np.ndarray, point: tuple[float, float], *,
                    tolerance: int = GROW_TOLERANCE) -> np.ndarray:
    """Bool HxW mask of the region around ``point`` (x, y): a flood fill that follows smooth
    colour changes (a floating range of ``tolerance`` levels between neighbours) on a smoothed,
    reduced copy, so it stops at edges; holes are closed.

    >>> img = np.zeros((50, 50, 3), np.float32); img[:, 25:] = 1
    >>> m = grow_from_point(img, (10, 10))
    >>> bool(m[40, 5]), bool(m[10, 40])
    (True, False)
    """
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    small = _to_u8(rgb)
    if scale < 1:
        small = cv2.resize(small, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    small = cv2.bilateralFilter(small, 5, 20, 5)
    sh, sw = small.shape[:2]
    px = int(min(sw - 1, max(0, point[0] * scale)))
    py = int(min(sh - 1, max(0, point[1] * scale)))
    ff = np.zeros((sh + 2, sw + 2), np.uint8)
    tol = (tolerance,) * 3
    cv2.floodFill(small, ff, (px, py), (0, 0, 0), tol, tol,
                  4 | cv2.FLOODFILL_MASK_ONLY | (255 << 8))
    region = ff[1:-1, 1:-1]
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    region = cv2.morphologyEx(region, cv2.MORPH_CLOSE, k)
    region = cv2.resize(region, (w, h), interpolation=cv2.INTER_LINEAR)
    return region >= 128
