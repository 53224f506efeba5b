"""The classical defect detector: morphological top-hats, oriented line filters, thresholds.

No weights, no training: the baseline the learned detector is measured against, and the
fallback when it cannot run. It looks for what scratches and dust have in common: thin
structures much brighter or darker than their immediate surroundings (white / black top-hat),
which are either *line-like* (one orientation of a bank of line filters stands out above the
others) or *small and strong* (specks). Thresholds adapt to the local contrast of the photo,
so textured areas need a stronger response than smooth ones.

:func:`classical_score` returns a score map in [0, 1]; pixels above the threshold (default
:data:`DEFAULT_THRESHOLD`) are defects. Works on images up to ~1-2 megapixels;
:func:`photomend.restoration.detect.detect_defects` resizes larger scans first.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Default decision threshold on :func:`classical_score`.
DEFAULT_THRESHOLD = 0.5
#: Top-hat structuring element diameter (px): structures thinner than this are candidates.
TOPHAT_SIZE = 11
#: Length (px) and count of the oriented line filters.
LINE_LENGTH, LINE_ANGLES = 21, 12

LINE_K, TH_K, LINE_MIN, SPECK_MIN, SPECK_K = 3.0, 1.5, 0.01, 0.08, 6.0
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def classical_score(rgb: np.ndarray) -> np.ndarray:
    """Defect score in [0, 1] per pixel of ``rgb`` (float32 HxWx3 in [0, 1]); > 0.5 = defect.

    >>> import numpy as np
    >>> img = np.full((96, 96, 3), 0.4, np.float32)
    >>> img[10:86, 47] = 0.95                      # a bright one-pixel scratch
    >>> s = classical_score(img)
    >>> bool(s[48, 47] > 0.5), bool(s[48, 20] > 0.5)
    (True, False)
    """
    y = np.ascontiguousarray(np.asarray(rgb, np.float32) @ _LUMA)
    y = cv2.GaussianBlur(y, (0, 0), 0.6)
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (TOPHAT_SIZE, TOPHAT_SIZE))
    white = cv2.morphologyEx(y, cv2.MORPH_TOPHAT, se)
    black = cv2.morphologyEx(y, cv2.MORPH_BLACKHAT, se)
    best = np.zeros_like(y)
    for th in (white, black):
        # local contrast level: what the texture around a pixel gives anyway
        level = cv2.blur(th, (31, 31)) + 0.004
        line = _lineness(th)
        line_level = cv2.blur(line, (31, 31)) + 0.003
        s_line = np.minimum(line / (LINE_K * line_level), th / (TH_K * level))
        s_line = np.where(line > LINE_MIN, s_line, 0)
        s_speck = np.where((th > SPECK_MIN) & (th > SPECK_K * level), th / (SPECK_K * level), 0)
        best = np.maximum(best, np.maximum(s_line, s_speck))
    score = 0.5 * best  # ratio 1 -> 0.5
    return np.clip(score, 0.0, 1.0).astype(np.float32)


def _lineness(response: np.ndarray) -> np.ndarray:
    """How much the best-oriented line average exceeds the average over all orientations."""
    means = []
    c = LINE_LENGTH // 2
    for k in range(LINE_ANGLES):
        theta = np.pi * k / LINE_ANGLES
        kern = np.zeros((LINE_LENGTH, LINE_LENGTH), np.float32)
        dx, dy = c * np.cos(theta), c * np.sin(theta)
        cv2.line(kern, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1,
                 cv2.LINE_AA)
        kern /= kern.sum()
        means.append(cv2.filter2D(response, -1, kern, borderType=cv2.BORDER_REFLECT))
    stack = np.stack(means)
    return stack.max(0) - stack.mean(0)
