"""Colour transfer from a reference photo, after Welsh, Ashikhmin & Mueller, "Transferring
Color to Greyscale Images" (SIGGRAPH 2002).

1. The reference's luma is remapped to the mean and spread of the target's luma, so that a
   darker or lighter reference still matches.
2. A jittered grid of reference samples (a few thousand) is described by luma and the local
   luma standard deviation (texture) in a 5x5 window, weighted equally as in the paper.
3. Every target pixel takes the mean chroma of its nearest samples in that feature space.

The result is noisy pixel by pixel, so it is used as weak targets for the edge-aware chroma
propagation of :mod:`photomend.colorization.propagate`: the colours follow the photo's luma edges,
and user hints (strong targets) can be added on top.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.spatial import cKDTree

from photomend.colorization.colorspace import split

#: Reference pixels considered (the reference is shrunk to about this many pixels first).
REFERENCE_PIXELS = 250_000
#: Jittered samples drawn from the reference.
SAMPLES = 4096
#: Nearest samples averaged per target pixel.
NEIGHBOURS = 8
#: Confidence of a transferred colour in the propagation (a user hint has 100).
TRANSFER_CONFIDENCE = 0.02


def local_std(y: np.ndarray, size: int = 5) -> np.ndarray:
    """Standard deviation of ``y`` in a ``size`` x ``size`` window."""
    y = y.astype(np.float32)
    mean = cv2.blur(y, (size, size), borderType=cv2.BORDER_REFLECT)
    sq = cv2.blur(y * y, (size, size), borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(sq - mean * mean, 0.0))


def transfer(y: np.ndarray, reference_rgb: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Chroma (float32 HxWx2) for the luma ``y`` (HxW) transferred from ``reference_rgb``."""
    ref = np.asarray(reference_rgb, np.float32)
    rh, rw = ref.shape[:2]
    scale = min(1.0, math.sqrt(REFERENCE_PIXELS / float(rh * rw)))
    if scale < 1.0:
        ref = cv2.resize(ref, (max(1, round(rw * scale)), max(1, round(rh * scale))),
                         interpolation=cv2.INTER_AREA)
    ref_y, ref_c = split(ref)
    # Luminance remapping (Hertzmann et al., as used by Welsh et al.).
    t_mean, t_std = float(y.mean()), float(y.std())
    r_mean, r_std = float(ref_y.mean()), float(ref_y.std())
    ref_y = (ref_y - r_mean) * (t_std / max(r_std, 1e-6)) + t_mean
    ref_s = local_std(ref_y)
    # A jittered grid of samples over the reference.
    rng = np.random.default_rng(seed)
    h, w = ref_y.shape
    n = min(SAMPLES, h * w)
    step = math.sqrt(h * w / n)
    gy, gx = np.mgrid[0:h:step, 0:w:step]
    sy = np.clip((gy + rng.random(gy.shape) * step).astype(int).ravel(), 0, h - 1)
    sx = np.clip((gx + rng.random(gx.shape) * step).astype(int).ravel(), 0, w - 1)
    features = np.stack([ref_y[sy, sx], ref_s[sy, sx]], axis=1)
    tree = cKDTree(features)
    query = np.stack([y.ravel(), local_std(y).ravel()], axis=1)
    k = min(NEIGHBOURS, len(features))
    _, nearest = tree.query(query, k=k, workers=-1)
    nearest = nearest.reshape(len(query), k)
    chroma = ref_c[sy, sx][nearest].mean(axis=1)
    return chroma.reshape(*y.shape, 2).astype(np.float32)
