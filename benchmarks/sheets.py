"""Comparison sheets: the photo with its hole marked, then one labelled panel per method.

>>> import numpy as np
>>> img = np.zeros((40, 60, 3), np.float32); hole = np.zeros((40, 60), bool); hole[10:20, 10:30] = True
>>> comparison_sheet(img, hole, {"a": img, "b": img}, panel_width=60).shape
(58, 188, 3)
>>> comparison_sheet(img, hole, {"a": img, "b": None}, panel_width=60, columns=2).shape
(120, 124, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

_LABEL_H = 18
_GAP = 4
_HOLE_COLOUR = np.array([1.0, 0.1, 0.6], np.float32)  # magenta: rare in photos


def overlay_mask(image: np.ndarray, mask: np.ndarray, *, alpha: float = 0.55) -> np.ndarray:
    """Float RGB copy of ``image`` with the hole tinted magenta and outlined."""
    out = np.asarray(image, np.float32).copy()
    out[mask] = (1 - alpha) * out[mask] + alpha * _HOLE_COLOUR
    edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    out[edge] = _HOLE_COLOUR
    return out


def comparison_sheet(
    image: np.ndarray,
    mask: np.ndarray,
    results: Mapping[str, np.ndarray | None],
    *,
    panel_width: int | None = None,
    columns: int = 4,
    title: str = "input + hole",
) -> np.ndarray:
    """Return a uint8 RGB sheet: ``image`` with ``mask`` overlaid, then each result, labelled.

    ``image`` and the results are float RGB in [0, 1] of one size; ``panel_width`` scales every
    panel (default: the image's own width); panels wrap after ``columns``. A result that is
    None is drawn grey and labelled "n/a".
    """
    h, w = mask.shape
    pw = panel_width or w
    ph = max(1, round(h * pw / w))
    panels = [(title, overlay_mask(image, mask))] + list(results.items())
    ncol = max(1, min(columns, len(panels)))
    nrow = -(-len(panels) // ncol)
    cell_w, cell_h = pw + _GAP, ph + _LABEL_H + _GAP
    sheet = np.full((nrow * cell_h - _GAP, ncol * cell_w - _GAP, 3), 255, np.uint8)
    for i, (label, panel) in enumerate(panels):
        x, y = (i % ncol) * cell_w, (i // ncol) * cell_h
        if panel is None:
            tile = np.full((ph, pw, 3), 128, np.uint8)
            label = f"{label} (n/a)"
        else:
            tile = _to_uint8(cv2.resize(np.asarray(panel, np.float32), (pw, ph), interpolation=cv2.INTER_AREA))
        sheet[y + _LABEL_H : y + _LABEL_H + ph, x : x + pw] = tile
        cv2.putText(sheet, label[: max(4, pw // 8)], (x + 2, y + _LABEL_H - 5), cv2.FONT_HERSHEY_SIMPLEX,
                    0.42, (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
    return sheet


def crop_around(mask: np.ndarray, size: int) -> tuple[slice, slice]:
    """A ``size`` x ``size`` window (clipped to the image) centred on the hole's largest part."""
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])) if n > 1 else 0
    cx, cy = centroids[biggest]
    h, w = mask.shape
    x0 = int(np.clip(cx - size / 2, 0, max(0, w - size)))
    y0 = int(np.clip(cy - size / 2, 0, max(0, h - size)))
    return slice(y0, y0 + size), slice(x0, x0 + size)


def save_png(sheet: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 RGB array as a PNG, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path, optimize=True)
    return path


def _to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
