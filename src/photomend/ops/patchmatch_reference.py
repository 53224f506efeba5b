"""Slow NumPy twins of the numba kernels in :mod:`photomend.ops.patchmatch_kernels`.

They define what the kernels compute; the tests check the kernels against them.
"""

from __future__ import annotations

import numpy as np


def patch_ssd(img: np.ndarray, ty: int, tx: int, sy: int, sx: int, r: int) -> float:
    """SSD between the patches centred at (ty, tx) and (sy, sx), skipping target pixels outside
    the image (the source patch lies inside it)."""
    h, w = img.shape[:2]
    d = 0.0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            y, x = ty + dy, tx + dx
            if 0 <= y < h and 0 <= x < w:
                e = img[y, x].astype(np.float64) - img[sy + dy, sx + dx]
                d += float(e @ e)
    return d


def vote(img, hole_yx, tindex, nnf, cost, r, inv_two_sigma2, npix, prior) -> np.ndarray:
    """Weighted Wexler vote of every hole pixel; returns a new image."""
    out = img.copy()
    h, w = tindex.shape
    for y, x in hole_yx:
        acc, ws = np.zeros(3), 0.0
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                ty, tx = y - dy, x - dx
                if not (0 <= ty < h and 0 <= tx < w) or tindex[ty, tx] < 0:
                    continue
                k = tindex[ty, tx]
                wt = np.exp(-(cost[k] / npix) * inv_two_sigma2) * prior[k]
                acc += wt * img[nnf[k, 0] + dy, nnf[k, 1] + dx, :3]
                ws += wt
        if ws > 0:
            out[y, x, :3] = acc / ws
    return out
