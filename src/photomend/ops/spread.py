"""Spread a quantity known on part of an image over the rest: normalised convolution.

Used to estimate, inside a hole, how much fine detail the photo around it has (the texture
gate of the patchmatch engine, the energy matching of CRA).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["spread", "spread_many"]


def spread(
    values: np.ndarray, weights: np.ndarray, sigmas: tuple[float, ...], *, enough: float = 0.05
) -> np.ndarray:
    """Weighted local mean of ``values`` at every pixel, over a Gaussian of the first of
    ``sigmas``; where less than ``enough`` weight lies within that reach (deep inside a big
    hole), the wider ones take over, blended smoothly.

    ``values`` and ``weights`` are float32 HxW; weight 0 marks a pixel whose value is unknown.

    >>> import numpy as np
    >>> v = np.zeros((64, 64), np.float32); v[:, :32] = 2.0
    >>> w = np.zeros((64, 64), np.float32); w[:, :8] = 1.0; w[:, -8:] = 1.0
    >>> s = spread(v, w, (3.0, 30.0))
    >>> round(float(s[32, 4]), 3), round(float(s[32, 60]), 3), 0.0 < float(s[32, 32]) < 2.0
    (2.0, 0.0, True)
    """
    return spread_many((values,), weights, sigmas, enough=enough)[0]


def spread_many(
    values: tuple[np.ndarray, ...], weights: np.ndarray, sigmas: tuple[float, ...], *,
    enough: float = 0.05,
) -> list[np.ndarray]:
    """:func:`spread` of each of ``values`` over the same ``weights``, whose blurs are computed
    once (the same results as separate calls).

    >>> v = np.random.default_rng(0).random((2, 32, 32), dtype=np.float32)
    >>> w = np.ones((32, 32), np.float32); w[8:20, 8:20] = 0.0
    >>> one, two = spread_many((v[0], v[1]), w, (3.0, 9.0))
    >>> bool(np.array_equal(two, spread(v[1], w, (3.0, 9.0))))
    True
    """
    reach = cv2.GaussianBlur(weights, (0, 0), sigmas[0])
    first = np.maximum(reach, 1e-6)
    wider = []  # per wider sigma: (sigma, its weight blur, the blend weight of the finer result)
    for sigma in sigmas[1:]:
        den = _blur(weights, sigma)
        wider.append((sigma, np.maximum(den, 1e-6), np.clip(reach / enough, 0.0, 1.0)))
        reach = np.maximum(reach, den)
    outs = []
    for v in values:
        vw = v * weights
        out = cv2.GaussianBlur(vw, (0, 0), sigmas[0]) / first
        for sigma, den, fine in wider:
            out = fine * out + (1.0 - fine) * (_blur(vw, sigma) / den)
        outs.append(out)
    return outs


#: Gaussians at least this wide (sigma, px) are computed on a copy shrunk 4x: a wide blur holds
#: no detail a quarter-size copy lacks, and costs ~16x less there.
_SHRINK_FROM = 8.0


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """``cv2.GaussianBlur(img, (0, 0), sigma)``, on a 4x smaller copy when sigma is wide."""
    h, w = img.shape[:2]
    if sigma < _SHRINK_FROM or min(h, w) < 64:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    small = cv2.resize(img, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / 4)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
