"""Structuring elements shared by the detectors, the repair and the metrics."""

from __future__ import annotations

import cv2
import numpy as np


def disk(radius: int) -> np.ndarray:
    """A filled disc of ``radius`` pixels (uint8, ``2 * radius + 1`` square) for OpenCV's
    morphology.

    >>> disk(1).tolist()
    [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    """
    r = int(radius)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
