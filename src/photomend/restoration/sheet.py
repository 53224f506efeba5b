"""The three-way comparison sheet of ``photomend restore --compare``: the scan | the detected
defects overlaid | the restored photo, labelled, so a user can trust or reject a repair."""

from __future__ import annotations

import cv2
import numpy as np

from photomend.compare import BACKGROUND, caption, tint_mask
from photomend.io import resize_mask

LABELS = ("scan", "defects found", "restored")


def three_way(
    scan: np.ndarray, mask: np.ndarray, restored: np.ndarray, *, max_side: int | None = None,
    labels: tuple[str, str, str] = LABELS,
) -> np.ndarray:
    """Float32 sheet: ``scan`` | ``scan`` with ``mask`` tinted magenta | ``restored``.

    ``restored`` may be larger than the scan (upscaled): it is scaled to the scan's panel size.
    ``max_side`` bounds each panel's long side. Inputs are float HxWx3 in [0, 1], not modified.

    >>> import numpy as np
    >>> img = np.zeros((40, 60, 3), np.float32); m = np.zeros((40, 60), bool)
    >>> three_way(img, m, img).shape
    (60, 188, 3)
    """
    scan = np.asarray(scan, np.float32)
    h, w = scan.shape[:2]
    if restored.shape[:2] != (h, w):
        restored = cv2.resize(np.asarray(restored, np.float32), (w, h),
                              interpolation=cv2.INTER_AREA)
    if max_side is not None and max(h, w) > max_side:
        f = max_side / max(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        scan = cv2.resize(scan, size, interpolation=cv2.INTER_AREA)
        restored = cv2.resize(np.asarray(restored, np.float32), size, interpolation=cv2.INTER_AREA)
        mask = resize_mask(mask, size)
        h, w = mask.shape
    strip = int(np.clip(round(0.06 * min(h, w)), 20, 120))
    gap = max(4, round(0.01 * w))
    sheet = np.empty((strip + h, 3 * w + 2 * gap, 3), np.float32)
    sheet[:] = BACKGROUND
    panels = (np.clip(scan, 0, 1), tint_mask(scan, mask, width=max(1, round(min(h, w) / 800))),
              np.clip(restored, 0, 1))
    for i, (panel, label) in enumerate(zip(panels, labels)):
        x = i * (w + gap)
        sheet[strip:, x:x + w] = panel
        caption(sheet, label, x, w, strip)
    return sheet
