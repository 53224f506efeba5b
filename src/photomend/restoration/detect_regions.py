"""A second look at the regions the learned detector finds: drop those that look like photo
content rather than damage (``data/weights/defect_regions.json``).

The defect U-Net judges each pixel from its neighbourhood; most of its false detections are
whole regions of real content (a bright highlight, a thin bright whisker, a twig), not fat
edges of true defects. A region as a whole says more than its pixels: its shape (a long thin
scratch or a speck of dust), how sure the network was, whether the classical line filters
added it (:func:`photomend.restoration.detect.fuse`), and above all its colour against the
ring of pixels around it. Damage lies *on top of* the photo: a scratch shows the paper base
or the emulsion's dark, nearly neutral whatever the photo's colours, so a region that is as
saturated as its surroundings is usually content. For each 8-connected region of the score
map above the decision threshold, :func:`region_features` measures :data:`FEATURES`; a
logistic model (fitted by ``training/train_defect_regions.py`` on the training photos only)
turns them into the probability that the region is damage, and :func:`drop_content` sets the
score of the regions below the model's threshold to 0.

Stains and torn corners are found by their own steps after this one and are never dropped.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np

from photomend.restoration.logistic import probability

#: File name of the shipped model under ``photomend/data/weights/``.
WEIGHTS = "defect_regions.json"

#: What :func:`region_features` measures per region (C: the region's pixels; R: the ring of
#: pixels within 3 px around it that are not detections; gray: the mean of R, G and B).
FEATURES = (
    "log_area",          # log of the region's pixel count
    "log_length",        # log(1 + 4 x the standard deviation along its main axis)
    "width",             # area / (1 + length): 1-3 px for a scratch, more for a blob
    "log_elongation",    # log of the ratio of its two principal variances
    "box_fill",          # area / bounding-box area
    "prob_max",          # the network's highest probability in C
    "prob_sure",         # share of C where the network gives more than 0.99
    "fused_share",       # share of C added by the classical line filters (fuse)
    "classical_mean",    # mean classical score in C
    "line_mean",         # mean of gray - its 7-px median in C (+: a bright line or speck)
    "line_abs",          # mean |gray - median| in C
    "ring_line_abs",     # mean |gray - median| in R (how busy the fine detail around is)
    "contrast",          # mean gray of C - mean gray of R
    "peak_contrast",     # max |gray of C - mean gray of R|
    "ring_std",          # standard deviation of gray in R
    "ring_laplacian",    # mean |Laplacian| (sigma 1) in R
    "ring_gradient",     # mean gradient magnitude (sigma 2) in R
    "gradient",          # mean gradient magnitude (sigma 2) in C
    "colour_change",     # RGB distance between the mean colours of C and R
    "colour_spread",     # mean per-channel standard deviation of the colours in C
    "saturation",        # max - min of C's mean colour
    "ring_saturation",   # max - min of R's mean colour
    "brightness",        # mean gray of C
)


def weights_path() -> Path:
    """Path of the shipped region model (JSON)."""
    return Path(str(files("photomend") / "data" / "weights" / WEIGHTS))


@lru_cache(maxsize=4)
def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        model = json.load(fh)
    if tuple(model["features"]) != FEATURES:
        raise ValueError(f"{path}: the region model was fitted on other features")
    arrays = ("mean", "scale", "coef")
    return {k: np.asarray(v, np.float64) if k in arrays else v for k, v in model.items()}


def load_model(path: str | Path | None = None) -> dict:
    """The region model: ``mean``, ``scale``, ``coef`` (arrays over :data:`FEATURES`),
    ``intercept`` and ``threshold`` (a region is kept when its probability reaches it)."""
    return _load(str(path or weights_path()))


def region_features(
    rgb: np.ndarray, prob: np.ndarray, fused: np.ndarray, classical: np.ndarray,
    found: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, X): the 8-connected regions of ``found`` (int32 HxW, 0 = background, region
    i is label i) and their :data:`FEATURES` (float64, one row per region, row i - 1 for
    label i).

    ``rgb`` is the scan at the detector's working size, ``prob`` the network's probability,
    ``fused`` the score after :func:`photomend.restoration.detect.fuse`, ``classical`` the
    classical score, ``found`` the detections to judge (bool), all of the same size.

    >>> img = np.full((40, 40, 3), 0.5, np.float32); img[20, 5:35] = 0.95
    >>> found = np.zeros((40, 40), bool); found[20, 5:35] = True
    >>> p = np.where(found, 0.99, 0.0).astype(np.float32)
    >>> labels, X = region_features(img, p, p, p, found)
    >>> X.shape, round(float(X[0, FEATURES.index("contrast")]), 2)
    ((1, 23), 0.45)
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(found.astype(np.uint8),
                                                           connectivity=8)
    X = np.zeros((n - 1, len(FEATURES)), np.float64)
    if n <= 1:
        return labels, X
    rgb = np.asarray(rgb, np.float32)
    gray = rgb.mean(2)
    line = gray - cv2.medianBlur((gray * 255).round().astype(np.uint8), 7).astype(np.float32) / 255
    laplacian = np.abs(cv2.Laplacian(cv2.GaussianBlur(gray, (0, 0), 1.0), cv2.CV_32F))
    smooth = cv2.GaussianBlur(gray, (0, 0), 2.0)
    gradient = np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))
    added = fused > prob
    ring_kernel = np.ones((7, 7), np.uint8)
    hh, ww = found.shape
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        y0, y1, x0, x1 = max(0, y - 4), min(hh, y + h + 4), max(0, x - 4), min(ww, x + w + 4)
        win = (slice(y0, y1), slice(x0, x1))
        comp = labels[win] == i
        ring = cv2.dilate(comp.astype(np.uint8), ring_kernel).astype(bool) & ~found[win]
        if not ring.any():
            ring = ~comp
        ys, xs = np.nonzero(comp)
        if area >= 3:
            cov = np.cov(np.stack([xs, ys]).astype(np.float64)) + 1e-3 * np.eye(2)
            small, large = np.linalg.eigvalsh(cov)
        else:
            small, large = 0.1, 0.1
        length = 4.0 * np.sqrt(large)
        g, colours = gray[win], rgb[win]
        ring_gray = float(g[ring].mean())
        c_mean, r_mean = colours[comp].mean(0), colours[ring].mean(0)
        X[i - 1] = (
            np.log(area), np.log1p(length), area / (1.0 + length), np.log(large / small),
            area / (w * h),
            prob[win][comp].max(), (prob[win][comp] > 0.99).mean(), added[win][comp].mean(),
            classical[win][comp].mean(),
            line[win][comp].mean(), np.abs(line[win][comp]).mean(),
            np.abs(line[win][ring]).mean(),
            g[comp].mean() - ring_gray, np.abs(g[comp] - ring_gray).max(), g[ring].std(),
            laplacian[win][ring].mean(), gradient[win][ring].mean(), gradient[win][comp].mean(),
            float(np.linalg.norm(c_mean - r_mean)), colours[comp].std(0).mean(),
            np.ptp(c_mean), np.ptp(r_mean), g[comp].mean(),
        )
    return labels, X


def damage_probability(X: np.ndarray, model: dict | None = None) -> np.ndarray:
    """Probability that each region (a row of :func:`region_features`) is damage."""
    return probability(X, model or load_model())


def drop_content(
    fused: np.ndarray, rgb: np.ndarray, prob: np.ndarray, classical: np.ndarray,
    threshold: float, *, model: str | Path | None = None,
) -> np.ndarray:
    """``fused`` with the score of every region above ``threshold`` that the region model
    judges to be photo content set to 0 (a new array; see the module docstring)."""
    found = fused > threshold
    if not found.any():
        return fused
    params = load_model(model)
    labels, X = region_features(rgb, prob, fused, classical, found)
    keep = np.concatenate([[True], damage_probability(X, params) >= params["threshold"]])
    return np.where(keep[labels], fused, np.float32(0.0)).astype(np.float32)
