"""Obvious high-contrast defects by a multi-scale top-hat, gated against photo structure.

Tried as a floor under the ``learned`` detector (issue 21: a scan unlike anything it was
trained on must still have its obvious scratches, creases and specks found) and **not in its
chain**: added to it, it raised F1 on the TUNE photos (0.666 -> 0.710, below) but lowered it on
every family of the held-out photos (degrade 0.792 -> 0.760, strokes 0.629 -> 0.610, folds
0.805 -> 0.745, surface 0.222 -> 0.204; ``benchmarks/results_restore_families_75c1306.md`` vs
``_17e6d17.md``): its lines take real thin structure (window ledges, graffiti outlines) for
scratches. Kept for ``training/tune_restore_floor.py`` and as a starting point.

A plain top-hat finds obvious defects but also every thin bright or dark detail of the photo
(on busy photos a 9x9 top-hat at 30/255 flags a quarter of the pixels), so its detections are
kept only when

* they stand out from the top-hat response of their neighbourhood (``LEVEL_K`` times its local
  mean: texture responds everywhere, a defect where texture is quiet), and
* each 8-connected piece is either a **line** (at least ``LINE_LENGTH`` px long and
  ``LINE_ASPECT`` times longer than wide: scratches, creases, cracks) or a **speck** (at most
  ``SPECK_AREA`` px, round enough: dust).

Two structuring elements (``SIZES``) cover hairlines to creases of ~8 px at the 1024-px working
size. Constants chosen with ``training/tune_restore_floor.py`` on the TUNE photos with the
``degrade`` and ``strokes`` families only (the ``folds`` and ``surface`` families and the
held-out photos judge them, ``benchmarks/bench_restore_families.py``): there, added to the
learned detector without its tear rule, mean F1 0.676 -> 0.720 (with it, 0.666 -> 0.710);
every constant's neighbours scored within 0.01 except
``LEVEL_K`` 6+ and ``LEVEL_WINDOW`` 21 (the floor stops finding wide scratches) and ``SPECK_K``
6 (specks of texture). Specks add no recall there; they are kept for dust the network misses.
A 9-only element scored the same (+0.003); the 17 stays for creases wider than 8 px.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Square structuring elements (px, at the working size) of the white and black top-hats.
SIZES = (9, 17)
#: Least top-hat response (0-1 luma) of a detection.
MIN_RESPONSE = 45 / 255
#: A detection's response must exceed this many times the mean response around it.
LEVEL_K = 4.0
#: Window (px) of that local mean.
LEVEL_WINDOW = 41
#: A line piece: at least this long (px) and this many times longer than wide.
LINE_LENGTH, LINE_ASPECT = 30, 8.0
#: A speck: at most this many px, its bounding box at most twice as long as wide, and at its
#: peak ``SPECK_K`` times the mean response around it (specks of texture are many; dust is not).
SPECK_AREA, SPECK_K = 60, 12.0
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def tophat_defects(rgb: np.ndarray) -> np.ndarray:
    """Bool HxW mask of the obvious line and speck defects of ``rgb`` (float32 HxWx3 in
    [0, 1], at the detection size).

    >>> img = np.full((128, 128, 3), 0.45, np.float32)
    >>> img[10:118, 60:64] = 0.95                    # a 4-px bright crease
    >>> img[30, 20] = img[30, 21] = 0.05             # a dark speck
    >>> m = tophat_defects(img)
    >>> bool(m[64, 61]), bool(m[30, 20]), bool(m[90, 20])
    (True, True, False)
    """
    y = np.ascontiguousarray(np.asarray(rgb, np.float32) @ _LUMA)
    found = np.zeros(y.shape, bool)
    strong = np.zeros(y.shape, bool)
    for size in SIZES:
        se = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
        for op in (cv2.MORPH_TOPHAT, cv2.MORPH_BLACKHAT):
            th = cv2.morphologyEx(y, op, se)
            level = cv2.blur(th, (LEVEL_WINDOW, LEVEL_WINDOW))
            hit = th > MIN_RESPONSE
            found |= hit & (th > LEVEL_K * level)
            strong |= hit & (th > SPECK_K * level)
    return _shaped(found, strong)


def _shaped(found: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """The pieces of ``found`` that are lines, or specks holding a ``strong`` pixel."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(found.astype(np.uint8), connectivity=8)
    if n <= 1:
        return found
    keep = np.zeros(n, bool)
    has_strong = np.zeros(n, bool)
    has_strong[labels[strong & found]] = True
    for i in range(1, n):
        area = stats[i, cv2.CC_STAT_AREA]
        bw, bh = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]
        if area <= SPECK_AREA:
            keep[i] = has_strong[i] and max(bw, bh) <= 2 * min(bw, bh) + 1
            continue
        length = float(np.hypot(bw, bh)) if area > 4 * max(bw, bh) else float(max(bw, bh))
        if length < LINE_LENGTH:
            continue
        ys, xs = np.nonzero(labels[stats[i, 1]:stats[i, 1] + bh, stats[i, 0]:stats[i, 0] + bw]
                            == i)
        (_, _), (a, b), _ = cv2.minAreaRect(np.stack([xs, ys], 1).astype(np.float32))
        long_side = max(a, b, 1.0)
        width = area / long_side
        keep[i] = long_side >= LINE_LENGTH and long_side >= LINE_ASPECT * width
    return keep[labels]
