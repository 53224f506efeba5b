"""Numba kernels for the full-resolution passes of colorization (one pass over the pixels,
no full-size temporaries), each with a NumPy twin that the tests compare against:

* :func:`upsample_compose`: bilinear upsampling of the guided-filter coefficients, chroma =
  ``a * luma + b``, then the luma-preserving recombination — twin:
  :func:`photomend.colorization.propagate.guided_upsample` + :func:`photomend.colorization.colorspace.
  compose`;
* :func:`compose_rgb`: the recombination alone — twin: :func:`~photomend.colorization.colorspace.
  compose`;
* :func:`luma_of` and :func:`has_colour` — twins: :func:`~photomend.colorization.colorspace.luma`
  and :func:`~photomend.colorization.colorspace.is_gray`.
"""

from __future__ import annotations

import numpy as np

from photomend.jit import import_numba

import_numba()  # (before numba loads a kernel: see photomend.jit)

from numba import njit, prange  # noqa: E402

from photomend.colorization.colorspace import GAMUT_TOLERANCE


@njit(cache=True, inline="always")
def _put(y, cb, cr, out, i, j, tol):
    """Write Y + t * offsets into out[i, j] with the largest t <= 1 that stays in [0, 1];
    return 1 when the shrink moved a channel by more than ``tol``."""
    o0 = np.float32(1.402) * cr
    o1 = np.float32(-0.344136) * cb - np.float32(0.714136) * cr
    o2 = np.float32(1.772) * cb
    t = np.float32(1.0)
    big = np.float32(0.0)
    for o in (o0, o1, o2):
        if o > 0:
            t = min(t, (np.float32(1.0) - y) / o)
        elif o < 0:
            t = min(t, y / (-o))
        big = max(big, abs(o))
    t = max(t, np.float32(0.0))
    out[i, j, 0] = min(max(y + t * o0, np.float32(0.0)), np.float32(1.0))
    out[i, j, 1] = min(max(y + t * o1, np.float32(0.0)), np.float32(1.0))
    out[i, j, 2] = min(max(y + t * o2, np.float32(0.0)), np.float32(1.0))
    return 1 if (np.float32(1.0) - t) * big > tol else 0


@njit(cache=True, parallel=True)
def upsample_compose(y, coef, saturation, out):
    """Full-resolution RGB into ``out`` (HxWx3 float32) from the luma ``y`` (HxW) and the
    working-grid guided-filter coefficients ``coef`` (hxwx4: a_cb, b_cb, a_cr, b_cr),
    interpolated bilinearly with OpenCV's pixel-centre convention. Returns how many pixels'
    chroma shrank visibly to stay in gamut."""
    h, w = y.shape
    hs, ws = coef.shape[0], coef.shape[1]
    sy_scale = np.float32(hs / h)
    sx_scale = np.float32(ws / w)
    tol = np.float32(GAMUT_TOLERANCE)
    sat = np.float32(saturation)
    shrunk = 0
    for i in prange(h):
        fy = (np.float32(i) + np.float32(0.5)) * sy_scale - np.float32(0.5)
        if fy < 0:
            fy = np.float32(0.0)
        y0 = min(int(fy), hs - 1)
        y1 = min(y0 + 1, hs - 1)
        wy = fy - np.float32(y0)
        count = 0
        for j in range(w):
            fx = (np.float32(j) + np.float32(0.5)) * sx_scale - np.float32(0.5)
            if fx < 0:
                fx = np.float32(0.0)
            x0 = min(int(fx), ws - 1)
            x1 = min(x0 + 1, ws - 1)
            wx = fx - np.float32(x0)
            lum = y[i, j]
            a_cb = ((1 - wy) * ((1 - wx) * coef[y0, x0, 0] + wx * coef[y0, x1, 0])
                    + wy * ((1 - wx) * coef[y1, x0, 0] + wx * coef[y1, x1, 0]))
            b_cb = ((1 - wy) * ((1 - wx) * coef[y0, x0, 1] + wx * coef[y0, x1, 1])
                    + wy * ((1 - wx) * coef[y1, x0, 1] + wx * coef[y1, x1, 1]))
            a_cr = ((1 - wy) * ((1 - wx) * coef[y0, x0, 2] + wx * coef[y0, x1, 2])
                    + wy * ((1 - wx) * coef[y1, x0, 2] + wx * coef[y1, x1, 2]))
            b_cr = ((1 - wy) * ((1 - wx) * coef[y0, x0, 3] + wx * coef[y0, x1, 3])
                    + wy * ((1 - wx) * coef[y1, x0, 3] + wx * coef[y1, x1, 3]))
            cb = (a_cb * lum + b_cb) * sat
            cr = (a_cr * lum + b_cr) * sat
            count += _put(lum, cb, cr, out, i, j, tol)
        shrunk += count
    return shrunk


@njit(cache=True, parallel=True)
def compose_rgb(y, cbcr, saturation, out):
    """RGB into ``out`` from luma ``y`` and chroma ``cbcr`` (HxWx2); returns the number of
    pixels whose chroma shrank visibly."""
    h, w = y.shape
    tol = np.float32(GAMUT_TOLERANCE)
    sat = np.float32(saturation)
    shrunk = 0
    for i in prange(h):
        count = 0
        for j in range(w):
            count += _put(y[i, j], cbcr[i, j, 0] * sat, cbcr[i, j, 1] * sat, out, i, j, tol)
        shrunk += count
    return shrunk


@njit(cache=True, parallel=True)
def luma_of(rgb, out):
    """Rec. 601 luma of ``rgb`` (HxWx3 float32) into ``out`` (HxW float32)."""
    h, w = out.shape
    for i in prange(h):
        for j in range(w):
            out[i, j] = (np.float32(0.299) * rgb[i, j, 0] + np.float32(0.587) * rgb[i, j, 1]
                         + np.float32(0.114) * rgb[i, j, 2])


@njit(cache=True)
def has_colour(rgb, tolerance):
    """True as soon as one pixel's channels differ by more than ``tolerance``."""
    h, w = rgb.shape[0], rgb.shape[1]
    for i in range(h):
        for j in range(w):
            r, g, b = rgb[i, j, 0], rgb[i, j, 1], rgb[i, j, 2]
            if max(r, g, b) - min(r, g, b) > tolerance:
                return True
    return False

