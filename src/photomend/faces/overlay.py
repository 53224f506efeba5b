"""A picture of what :func:`photomend.find_faces` found: each face boxed and numbered, the
detector's keypoints as dots and the alignment points as crosses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from photomend.objects.overlay import _COLOURS


def draw_faces(rgb: np.ndarray, faces: Sequence) -> np.ndarray:
    """float32 HxWx3: ``rgb`` with each face's box, keypoints and alignment points drawn.

    >>> draw_faces(np.zeros((8, 8, 3), np.float32), []).shape
    (8, 8, 3)
    """
    import cv2

    out = (np.clip(np.asarray(rgb, np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    out = np.ascontiguousarray(out)
    thick = max(1, round(max(out.shape[:2]) / 600))
    for k, face in enumerate(faces):
        colour = (_COLOURS[k % len(_COLOURS)] * 255).astype(int).tolist()
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, thick)
        cv2.putText(out, f"{k}: {face.score:.2f}", (x0 + 2, max(y0 - 4, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, colour, thick)
        for x, y in face.keypoints.values():
            cv2.circle(out, (int(round(x)), int(round(y))), thick + 1, colour, -1)
        for x, y in face.points:
            cv2.drawMarker(out, (int(round(x)), int(round(y))), (255, 255, 255),
                           cv2.MARKER_CROSS, 4 * thick + 2, thick)
    return out.astype(np.float32) / 255
