"""Interpolation baselines: ``bicubic`` and ``lanczos`` (OpenCV), any integer scale."""

from __future__ import annotations

import cv2
import numpy as np

from photomend.upscaling.base import Upscaler, UpscalerTraits, register_upscaler


def resize_by(rgb: np.ndarray, scale: int, interpolation: int) -> np.ndarray:
    """``rgb`` (float32, any channels) resized by an integer factor with OpenCV."""
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (w * scale, h * scale), interpolation=interpolation)


@register_upscaler
class Bicubic(Upscaler):
    name = "bicubic"
    traits = UpscalerTraits(
        description="bicubic interpolation (OpenCV, a = -0.75): the baseline",
        scales=(2, 3, 4, 8), cost="instant", context=4, tile=1024,
    )

    def _forward(self, rgb: np.ndarray, scale: int) -> np.ndarray:
        return resize_by(rgb, scale, cv2.INTER_CUBIC)


@register_upscaler
class Lanczos(Upscaler):
    name = "lanczos"
    traits = UpscalerTraits(
        description="Lanczos interpolation (OpenCV, 8x8 window): a sharper baseline",
        scales=(2, 3, 4, 8), cost="instant", context=6, tile=1024,
    )

    def _forward(self, rgb: np.ndarray, scale: int) -> np.ndarray:
        return resize_by(rgb, scale, cv2.INTER_LANCZOS4)
