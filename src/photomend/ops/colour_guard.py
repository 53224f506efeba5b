"""Nothing foreign: a fill may only use colours that occur near the hole.

Exemplar fills copy patches from anywhere in the photo. Now and then a patch from far away
brings a colour the hole's surroundings do not have (the sky's blue in a wall, a red shirt in a
lawn): a blob that any viewer spots. :func:`foreign` finds the fill pixels whose colour (CIE Lab,
in cells of ``step`` units) is absent from the known pixels around the hole, even allowing one
neighbouring cell of tolerance; :func:`replace_foreign` fills them again from the rest of the
fill and the rim, by normalised convolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from photomend.ops.spread import spread

#: Lab cell size (ΔE units): colours in one cell, or in a neighbouring one, count as present.
STEP = 8.0
#: The surroundings: known pixels within this many times the hole's depth of it (at least
#: ``MIN_REACH`` px).
REACH = 2.0
MIN_REACH = 16


def _cells(lab: np.ndarray) -> np.ndarray:
    """Integer Lab cells (N x 3) of float32 Lab colours (N x 3)."""
    return np.floor((lab + np.float32([0.0, 128.0, 128.0])) / STEP).astype(np.int32)


def foreign(filled: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Bool HxW: hole pixels of ``filled`` (float32 RGB in [0, 1]) whose colour occurs nowhere
    among the known pixels around the hole.

    >>> img = np.full((40, 40, 3), 0.5, np.float32)
    >>> hole = np.zeros((40, 40), bool); hole[15:25, 15:25] = True
    >>> img[18:20, 18:20] = (1.0, 0.0, 0.0)  # a red speck in a grey fill
    >>> int(foreign(img, hole).sum())
    4
    """
    depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    reach = max(MIN_REACH, int(REACH * depth.max()) + 1)
    near = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    ring = (~mask) & (near <= reach)
    lab = cv2.cvtColor(np.clip(filled, 0.0, 1.0).astype(np.float32), cv2.COLOR_RGB2Lab)
    shape = (int(100 / STEP) + 3, int(256 / STEP) + 3, int(256 / STEP) + 3)
    present = np.zeros(shape, np.uint8)
    c = _cells(lab[ring]) + 1
    present[c[:, 0], c[:, 1], c[:, 2]] = 1
    present = _grow(present)
    out = np.zeros(mask.shape, bool)
    h = _cells(lab[mask]) + 1
    out[mask] = present[h[:, 0], h[:, 1], h[:, 2]] == 0
    return out


def _grow(cells: np.ndarray) -> np.ndarray:
    """Mark the 26 neighbours of every marked cell too (3D dilation by one cell). The grid has
    an empty cell on every side, so the wrap-around of ``np.roll`` marks nothing real."""
    out = cells
    for axis in range(3):
        out = np.maximum(out, np.maximum(np.roll(out, 1, axis=axis), np.roll(out, -1, axis=axis)))
    return out


def replace_foreign(filled: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``filled`` with its :func:`foreign` pixels refilled from the other hole pixels and the
    known ones around (normalised convolution at 3 px, wider where none are near)."""
    bad = foreign(filled, mask)
    if not bad.any():
        return filled
    weights = (~bad).astype(np.float32)
    out = filled.copy()
    for c in range(3):
        out[..., c][bad] = spread(filled[..., c], weights, (3.0, 9.0, 27.0))[bad]
    return out
