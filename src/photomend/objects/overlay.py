"""A picture of what :func:`photomend.find_objects` found: each instance tinted in its own
colour, boxed and labelled."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_COLOURS = np.array([(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48),
                     (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60)],
                    np.float32) / 255


def draw_overlay(rgb: np.ndarray, instances: Sequence, *, alpha: float = 0.45) -> np.ndarray:
    """float32 HxWx3: ``rgb`` with each instance's mask tinted, its box drawn and labelled.

    >>> draw_overlay(np.zeros((8, 8, 3), np.float32), []).shape
    (8, 8, 3)
    """
    import cv2

    out = np.array(rgb, np.float32, copy=True)
    for k, inst in enumerate(instances):
        colour = _COLOURS[k % len(_COLOURS)]
        out[inst.mask] = (1 - alpha) * out[inst.mask] + alpha * colour
    out = (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
    thick = max(1, round(max(out.shape[:2]) / 500))
    for k, inst in enumerate(instances):
        colour = (_COLOURS[k % len(_COLOURS)] * 255).astype(int).tolist()
        x0, y0, x1, y1 = (int(round(v)) for v in inst.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, thick)
        cv2.putText(out, f"{k}: {inst.label} {inst.score:.2f}", (x0 + 2, max(y0 - 4, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, colour, thick)
    return out.astype(np.float32) / 255
