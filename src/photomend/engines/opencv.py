"""OpenCV's diffusion inpainting (Telea 2004, Navier-Stokes 2001): fast, smooth baselines."""

from __future__ import annotations

import cv2
import numpy as np

from photomend.engines.base import Engine, EngineTraits, ProgressFn, register_engine


def diffusion_fill(image: np.ndarray, mask: np.ndarray, flag: int, radius: int) -> np.ndarray:
    """OpenCV's fill of ``mask`` (``cv2.INPAINT_TELEA`` or ``INPAINT_NS``); a new array.

    OpenCV inpaints 8-bit images only; 8 bits are plenty for a smooth diffusion fill.
    """
    u8 = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    filled = cv2.inpaint(u8, mask.astype(np.uint8), radius, flag)
    out = image.copy()
    out[mask] = filled[mask].astype(np.float32) / 255.0
    return out


class _OpenCVEngine(Engine):
    flag: int
    radius = 5

    def _inpaint(self, image: np.ndarray, mask: np.ndarray, progress: ProgressFn | None) -> np.ndarray:
        return diffusion_fill(image, mask, self.flag, self.radius)


@register_engine
class TeleaEngine(_OpenCVEngine):
    name = "telea"
    flag = cv2.INPAINT_TELEA
    traits = EngineTraits(
        description="OpenCV fast marching (Telea): very fast, smooth, no texture",
        max_pixels=400_000_000,
        synthesises_texture=False,
    )


@register_engine
class NavierStokesEngine(_OpenCVEngine):
    name = "ns"
    flag = cv2.INPAINT_NS
    traits = EngineTraits(
        description="OpenCV Navier-Stokes diffusion: fast, smooth, no texture",
        max_pixels=400_000_000,
        synthesises_texture=False,
    )
