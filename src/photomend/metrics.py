"""Quality measures for filled holes: masked PSNR, masked SSIM and a detail (sharpness) ratio;
and the tolerant pixel counts behind a defect detector's precision and recall.

Every function compares a ``result`` with the ground ``truth`` only around the hole, because
outside it a fill leaves the pixels unchanged and would dilute any whole-image score.
Images are float arrays in [0, 1], HxWx3 (RGB) or HxW (grey); ``mask`` is bool HxW with
True = filled pixel, the photomend convention. The inputs are never modified.

>>> import numpy as np
>>> truth = np.full((32, 32, 3), 0.5)
>>> hole = np.zeros((32, 32), bool); hole[10:20, 10:20] = True
>>> result = truth.copy(); result[hole] += 0.1
>>> round(masked_psnr(result, truth, hole, dilate=0), 6)
20.0
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from photomend.ops.morphology import disk

__all__ = ["detail_ratio", "masked_psnr", "masked_ssim", "pooled_scores", "ssim_map",
           "tolerant_counts"]

#: Rec. 601 luma weights, used by :func:`detail_ratio` on RGB images.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

# SSIM as in Wang et al. 2004 and skimage.metrics.structural_similarity(gaussian_weights=True).
_SSIM_SIGMA = 1.5
_SSIM_RADIUS = int(3.5 * _SSIM_SIGMA + 0.5)  # scipy.ndimage's truncate=3.5: an 11-tap window
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def masked_psnr(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray, *, dilate: int = 8
) -> float:
    """Peak signal-to-noise ratio (dB, peak 1.0) over the hole dilated by ``dilate`` pixels.

    The squared error is averaged over every channel of every pixel of the dilated mask, so the
    seam around the hole counts as well as its inside. Identical regions give ``inf``.

    Parameters
    ----------
    result, truth : ndarray
        Float images in [0, 1] of the same shape, HxWx3 or HxW.
    mask : ndarray of bool
        HxW, True where ``result`` was filled.
    dilate : int, optional
        Radius in pixels of the (elliptical) dilation applied to ``mask``; 0 uses it as is.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((16, 16, 3)); hole = np.zeros((16, 16), bool); hole[4:8, 4:8] = True
    >>> round(masked_psnr(truth + 0.01, truth, hole), 6)
    40.0
    """
    result, truth, mask = _check_inputs(result, truth, mask, "masked_psnr")
    region = _dilated(mask, dilate)
    diff = result[region] - truth[region]
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return -10.0 * math.log10(mse)


def masked_ssim(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray, *, dilate: int = 8
) -> float:
    """Mean structural similarity over the hole dilated by ``dilate`` pixels.

    The SSIM map is computed per channel with an 11x11 Gaussian window (sigma 1.5), population
    covariances, K1 = 0.01, K2 = 0.03 and data range 1, and the channels are averaged — exactly
    ``skimage.metrics.structural_similarity(result, truth, channel_axis=-1, data_range=1,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, full=True)[1]``. The map is
    then averaged over the dilated mask, leaving out, like skimage, the 5-pixel frame along the
    image border where the window runs off the image (unless that leaves nothing). So with a
    mask that covers the whole image the value equals skimage's mean SSIM.

    Parameters
    ----------
    result, truth : ndarray
        Float images in [0, 1] of the same shape, HxWx3 or HxW, at least 11x11.
    mask : ndarray of bool
        HxW, True where ``result`` was filled.
    dilate : int, optional
        Radius in pixels of the (elliptical) dilation applied to ``mask``; 0 uses it as is.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).random((32, 32, 3))
    >>> hole = np.zeros((32, 32), bool); hole[10:20, 10:20] = True
    >>> masked_ssim(img, img, hole)
    1.0
    """
    result, truth, mask = _check_inputs(result, truth, mask, "masked_ssim")
    if min(mask.shape) < 2 * _SSIM_RADIUS + 1:
        raise ValueError(
            f"masked_ssim needs images of at least {2 * _SSIM_RADIUS + 1}x{2 * _SSIM_RADIUS + 1} "
            f"pixels, got {mask.shape[1]}x{mask.shape[0]}"
        )
    smap = ssim_map(result, truth)
    region = _dilated(mask, dilate)
    inner = np.zeros_like(region)
    r = _SSIM_RADIUS
    inner[r:-r, r:-r] = region[r:-r, r:-r]
    if inner.any():
        region = inner
    return float(np.mean(smap[region], dtype=np.float64))


def ssim_map(result: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The HxW SSIM map of two float images in [0, 1] (channels averaged); see :func:`masked_ssim`.

    >>> import numpy as np
    >>> img = np.zeros((16, 16))
    >>> float(ssim_map(img, img).min())
    1.0
    """
    x = np.asarray(result, np.float64)
    y = np.asarray(truth, np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1 = (_SSIM_K1 * 1.0) ** 2
    c2 = (_SSIM_K2 * 1.0) ** 2
    total = np.zeros(x.shape[:2], np.float64)
    for ch in range(x.shape[2]):
        a, b = x[..., ch], y[..., ch]
        ux, uy = _gauss(a), _gauss(b)
        vx = _gauss(a * a) - ux * ux
        vy = _gauss(b * b) - uy * uy
        vxy = _gauss(a * b) - ux * uy
        total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return total / x.shape[2]


def detail_ratio(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray, *, erode: int = 2
) -> float:
    """Laplacian energy of the fill divided by that of the truth, inside the hole eroded by ``erode``.

    The energy is the mean squared 4-neighbour Laplacian of the luma (Rec. 601 weights for RGB,
    the image itself for grey). Eroding keeps the seam out, so the ratio describes the inside of
    the fill only: diffusion fills (Telea, Navier-Stokes) give about 0.1-0.2, a faithful sharp
    fill about 1, a noisy one more than 1. It is ``inf`` when the truth is perfectly flat there
    but the fill is not, and 1.0 when both are flat.

    Parameters
    ----------
    result, truth : ndarray
        Float images in [0, 1] of the same shape, HxWx3 or HxW.
    mask : ndarray of bool
        HxW, True where ``result`` was filled.
    erode : int, optional
        Radius in pixels of the (elliptical) erosion applied to ``mask``; 0 uses it as is.

    Raises
    ------
    ValueError
        If nothing of the mask is left after the erosion.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.random.default_rng(0).random((32, 32))
    >>> hole = np.zeros((32, 32), bool); hole[8:24, 8:24] = True
    >>> flat = truth.copy(); flat[hole] = truth[hole].mean()
    >>> detail_ratio(truth, truth, hole), detail_ratio(flat, truth, hole) < 0.1
    (1.0, True)
    """
    result, truth, mask = _check_inputs(result, truth, mask, "detail_ratio")
    if erode < 0:
        raise ValueError(f"erode must be >= 0, got {erode}")
    region = mask
    if erode > 0:
        region = cv2.erode(mask.astype(np.uint8), disk(erode), borderValue=1).astype(bool)
    if not region.any():
        raise ValueError(f"the mask has no pixels left after eroding it by {erode} px")
    e_result = _laplacian_energy(result, region)
    e_truth = _laplacian_energy(truth, region)
    if e_truth == 0.0:
        return 1.0 if e_result == 0.0 else math.inf
    return e_result / e_truth


def tolerant_counts(pred: np.ndarray, truth: np.ndarray, *, tol: int = 2) -> np.ndarray:
    """The pixel counts behind a defect detector's precision and recall with a ``tol``-px
    tolerance, int64: [predicted pixels within ``tol`` px of a true one, predicted pixels, true
    pixels within ``tol`` px of a predicted one, true pixels]. Precision is c[0] / c[1], recall
    c[2] / c[3]; the counts of several images add up to pooled scores.

    ``pred`` and ``truth`` are bool HxW; a thin scratch found 1-2 px beside its drawn position
    counts as found.

    >>> truth = np.zeros((9, 9), bool); truth[4, 1:8] = True  # a thin scratch
    >>> pred = np.zeros((9, 9), bool); pred[6, 1:5] = True; pred[0, 0] = True  # 2 px off; a speck
    >>> tolerant_counts(pred, truth).tolist()
    [4, 5, 4, 7]
    """
    pred = np.asarray(pred, bool)
    truth = np.asarray(truth, bool)
    near_truth = _dilated(truth, tol)
    near_pred = _dilated(pred, tol)
    return np.array([(pred & near_truth).sum(), pred.sum(), (truth & near_pred).sum(),
                     truth.sum()], np.int64)


def pooled_scores(counts: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) from :func:`tolerant_counts` (of one image or summed over
    many); an empty prediction or truth counts as 0, not as undefined.

    >>> pooled_scores(np.array([4, 5, 4, 8]))
    (0.8, 0.5, 0.6153846153846154)
    """
    p = counts[0] / max(counts[1], 1)
    r = counts[2] / max(counts[3], 1)
    return float(p), float(r), float(2 * p * r / (p + r) if p + r else 0.0)


def _check_inputs(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray, caller: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the common arguments and return float64 images and a bool mask."""
    result, truth, mask = np.asarray(result), np.asarray(truth), np.asarray(mask)
    for name, img in (("result", result), ("truth", truth)):
        if not np.issubdtype(img.dtype, np.floating):
            raise ValueError(
                f"{caller}: {name} must be a float image in [0, 1], got dtype {img.dtype} "
                "(divide uint8 images by 255)"
            )
        if img.ndim not in (2, 3):
            raise ValueError(f"{caller}: {name} must be HxW or HxWxC, got shape {img.shape}")
    if result.shape != truth.shape:
        raise ValueError(f"{caller}: result {result.shape} and truth {truth.shape} differ in shape")
    if mask.shape != result.shape[:2]:
        raise ValueError(
            f"{caller}: mask {mask.shape} does not match the image size {result.shape[:2]}"
        )
    if mask.dtype != np.bool_:
        raise ValueError(f"{caller}: mask must be bool (True = filled), got dtype {mask.dtype}")
    if not mask.any():
        raise ValueError(f"{caller}: the mask is empty, there is no filled region to measure")
    return result.astype(np.float64), truth.astype(np.float64), mask


def _dilated(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius < 0:
        raise ValueError(f"dilate must be >= 0, got {radius}")
    if radius == 0:
        return mask
    return cv2.dilate(mask.astype(np.uint8), disk(radius)).astype(bool)


def _gauss(img: np.ndarray) -> np.ndarray:
    # scipy.ndimage's mode="reflect" (what skimage uses) is OpenCV's BORDER_REFLECT.
    size = 2 * _SSIM_RADIUS + 1
    return cv2.GaussianBlur(img, (size, size), _SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)


def _luma(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return img
    if img.shape[2] != 3:
        raise ValueError(f"detail_ratio needs grey or RGB images, got {img.shape[2]} channels")
    return img @ np.asarray(LUMA_WEIGHTS)


def _laplacian_energy(img: np.ndarray, region: np.ndarray) -> float:
    lap = cv2.Laplacian(_luma(img), cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT)
    return float(np.mean(lap[region] ** 2))
