"""Morphology shared by the detectors, the repair and the metrics."""

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


def touching(found: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The 8-connected regions of ``found`` that hold a pixel of ``seeds`` (bool HxW): a
    hysteresis threshold when ``found`` is a low one and ``seeds`` a high one.

    >>> f = np.array([[1, 1, 0, 1]], bool); s = np.array([[0, 1, 0, 0]], bool)
    >>> touching(f, s).astype(int).tolist()
    [[1, 1, 0, 0]]
    """
    n, labels = cv2.connectedComponents(found.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[labels[found & seeds]] = True
    keep[0] = False
    return keep[labels]
