"""Upscale images of any size in bounded memory: overlapping tiles, only their cores pasted back.

The image is cut into a grid of *core* tiles of at most ``tile`` x ``tile`` input pixels. Each
core is read with ``tile_pad`` extra pixels of context on every side (where the image has
them), upscaled, and only the upscaled core is written into the preallocated output (the
Real-ESRGAN scheme). A network whose receptive field reaches at most ``tile_pad`` input pixels
sees exactly the same neighbourhood for every core pixel as it would on the whole image, so the
tiled result equals the untiled one (up to float rounding) everywhere, borders included; for
wider networks the difference fades with ``tile_pad``. No blending is needed, so no seams.

Memory: the output array (``out_dtype``: uint8/uint16 for files, float32 for arrays) plus one
tile's activations; the input is never copied whole.

>>> import numpy as np
>>> img = np.random.default_rng(0).random((50, 70, 3), dtype=np.float32)
>>> up = lambda t: t.repeat(2, 0).repeat(2, 1)
>>> out = upscale_tiled(img, 2, up, tile=16, tile_pad=2)
>>> out.shape, bool(np.array_equal(out, up(img)))
((100, 140, 3), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: ``progress(stage, done, total)``.
ProgressFn = Callable[[str, int, int], None]


def tile_edges(length: int, tile: int) -> list[int]:
    """Boundaries of ``ceil(length / tile)`` nearly equal cores covering ``[0, length)``.

    >>> tile_edges(10, 4)
    [0, 3, 7, 10]
    >>> tile_edges(5, 0)
    [0, 5]
    """
    if tile <= 0 or tile >= length:
        return [0, length]
    n = math.ceil(length / tile)
    return [round(i * length / n) for i in range(n + 1)]


def tile_grid(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """The cores ``(y0, y1, x0, x1)`` in row-major order."""
    ys, xs = tile_edges(height, tile), tile_edges(width, tile)
    return [(ys[i], ys[i + 1], xs[j], xs[j + 1])
            for i in range(len(ys) - 1) for j in range(len(xs) - 1)]


def store(block: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float pixels in [0, 1] as ``dtype`` (uint8/uint16 rounded to nearest, or float32)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return np.rint(np.clip(block, 0.0, 1.0) * 255.0).astype(np.uint8)
    if dtype == np.uint16:
        return np.rint(np.clip(block, 0.0, 1.0) * 65535.0).astype(np.uint16)
    return block.astype(dtype, copy=False)


def upscale_tiled(
    rgb: np.ndarray,
    scale: int,
    forward: Callable[[np.ndarray], np.ndarray],
    *,
    tile: int = 512,
    tile_pad: int = 8,
    out_dtype: np.dtype | type = np.float32,
    progress: ProgressFn | None = None,
    stage: str = "upscale",
) -> np.ndarray:
    """Upscale ``rgb`` (HxWxC float32) by ``scale`` with ``forward`` applied tile by tile.

    Parameters
    ----------
    forward : ``forward(tile) -> upscaled tile`` (h x w x C float -> sh x sw x C float).
    tile : largest core side in input pixels; 0 = the whole image in one piece.
    tile_pad : context read around each core, in input pixels.
    out_dtype : dtype of the returned array (uint8/uint16 round from [0, 1]; float32 as is).
    progress : called as ``progress(stage, done, total)`` after each tile.
    """
    if tile < 0 or tile_pad < 0:
        raise ValueError(f"tile and tile_pad must not be negative, got {tile}, {tile_pad}")
    h, w = rgb.shape[:2]
    s = int(scale)
    out = np.empty((h * s, w * s) + rgb.shape[2:], dtype=out_dtype)
    cores = tile_grid(h, w, tile)
    for done, (y0, y1, x0, x1) in enumerate(cores, 1):
        ry0, ry1 = max(0, y0 - tile_pad), min(h, y1 + tile_pad)
        rx0, rx1 = max(0, x0 - tile_pad), min(w, x1 + tile_pad)
        up = forward(rgb[ry0:ry1, rx0:rx1])
        core = up[(y0 - ry0) * s:(y1 - ry0) * s, (x0 - rx0) * s:(x1 - rx0) * s]
        out[y0 * s:y1 * s, x0 * s:x1 * s] = store(core, out.dtype)
        if progress is not None:
            progress(stage, done, len(cores))
    return out
