"""Luma and chroma: split a photo into Y'CbCr (Rec. 601, full range) and put it back together
without ever changing the luma.

Every colorizer in :mod:`photomend.colorize` predicts only chroma (Cb, Cr in [-0.5, 0.5]); the
luma comes from the photo. :func:`compose` keeps that luma exact: where ``Y + chroma`` falls
outside the sRGB cube, it shrinks the chroma of that pixel towards grey (a pure chroma change)
instead of clipping channels, which would change the luminance. The share of pixels whose
chroma had to shrink is reported as ``out_of_gamut``.

>>> import numpy as np
>>> rgb = np.array([[[0.9, 0.2, 0.1]]], np.float32)
>>> y, cbcr = split(rgb)
>>> back, shrunk = compose(y, cbcr)
>>> bool(np.allclose(back, rgb, atol=1e-6)), shrunk
(True, 0.0)
"""

from __future__ import annotations

import numpy as np

#: Rec. 601 luma weights (R, G, B).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)
# RGB offsets from luma per unit of Cb and Cr: R = Y + 1.402 Cr, G = Y - 0.344136 Cb -
# 0.714136 Cr, B = Y + 1.772 Cb (full-range JPEG/JFIF Y'CbCr).
_FROM_CB = np.array([0.0, -0.344136, 1.772], np.float32)
_FROM_CR = np.array([1.402, -0.714136, 0.0], np.float32)
#: A pixel counts as out of gamut when shrinking its chroma moved a channel by more than this
#: (two grey levels on 8 bits); smaller corrections are invisible and not reported.
GAMUT_TOLERANCE = 2.0 / 255


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma Y' (float32 HxW) of a float RGB image."""
    rgb = np.asarray(rgb, np.float32)
    return (rgb[..., 0] * LUMA_WEIGHTS[0] + rgb[..., 1] * LUMA_WEIGHTS[1]
            + rgb[..., 2] * LUMA_WEIGHTS[2]).astype(np.float32)


def chroma(rgb: np.ndarray) -> np.ndarray:
    """Cb, Cr (float32 HxWx2, each in [-0.5, 0.5]) of a float RGB image."""
    rgb = np.asarray(rgb, np.float32)
    y = luma(rgb)
    return np.stack([(rgb[..., 2] - y) / np.float32(1.772),
                     (rgb[..., 0] - y) / np.float32(1.402)], axis=-1).astype(np.float32)


def split(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(luma HxW, chroma HxWx2) of a float RGB image."""
    return luma(rgb), chroma(rgb)


def is_gray(rgb: np.ndarray, *, tolerance: float = 1.5 / 255) -> bool:
    """True when no pixel's channels differ by more than ``tolerance`` (a grey photo stored
    as RGB, JPEG noise allowed)."""
    rgb = np.asarray(rgb)
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    return bool(spread.max(initial=0.0) <= tolerance)


def compose(y: np.ndarray, cbcr: np.ndarray, *, saturation: float = 1.0
            ) -> tuple[np.ndarray, float]:
    """RGB (float32 HxWx3 in [0, 1]) with luma exactly ``y`` and chroma ``saturation * cbcr``,
    shrunk towards grey where needed to stay inside the sRGB cube.

    Returns the image and the share of pixels whose chroma shrank visibly (out of gamut).
    """
    y = np.clip(np.asarray(y, np.float32), 0.0, 1.0)
    cb = np.asarray(cbcr[..., 0], np.float32) * np.float32(saturation)
    cr = np.asarray(cbcr[..., 1], np.float32) * np.float32(saturation)
    offsets = cb[..., None] * _FROM_CB + cr[..., None] * _FROM_CR  # HxWx3, luma-neutral
    # Largest t in [0, 1] with 0 <= y + t * offset <= 1 in every channel.
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(offsets > 0, (1.0 - y[..., None]) / offsets,
                        np.where(offsets < 0, -y[..., None] / offsets, np.inf))
    t = np.minimum(room.min(axis=-1), 1.0).astype(np.float32)
    t = np.maximum(t, 0.0)
    rgb = y[..., None] + t[..., None] * offsets
    moved = (1.0 - t) * np.abs(offsets).max(axis=-1)
    shrunk = float(np.mean(moved > GAMUT_TOLERANCE)) if t.size else 0.0
    return np.clip(rgb, 0.0, 1.0, out=rgb).astype(np.float32, copy=False), shrunk


# ---------------------------------------------------------------------------------------------
# CIELAB (D65), for the published networks, which work on L and predict ab
# ---------------------------------------------------------------------------------------------

_RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                        [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]], np.float64)
_WHITE = np.array([0.95047, 1.0, 1.08883])


def _linear(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, np.float64)
    return np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def _gamma(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, None)
    return np.where(lin > 0.0031308, 1.055 * lin ** (1 / 2.4) - 0.055, lin * 12.92)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (float32 HxWx3: L in [0, 100], a, b) of sRGB in [0, 1]; matches
    ``skimage.color.rgb2lab``."""
    xyz = _linear(rgb) @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lab = np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]),
                    200.0 * (f[..., 1] - f[..., 2])], axis=-1)
    return lab.astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """sRGB (float32, unclipped) of CIELAB; the inverse of :func:`rgb_to_lab`."""
    lab = np.asarray(lab, np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > 0.2068966, f ** 3, (f - 16.0 / 116.0) / 7.787) * _WHITE
    return _gamma(xyz @ np.linalg.inv(_RGB_TO_XYZ).T).astype(np.float32)
