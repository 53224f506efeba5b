"""OpenCV's diffusion inpainting (Telea 2004, Navier-Stokes 2001): fast, smooth baselines."""

from __future__ import annotations

import cv2
import numpy as np

from photomend.engines.base import BUILTIN_TRAITS, Engine, ProgressFn, register_engine


def diffusion_fill(image: np.ndarray, mask: np.ndarray, flag: int, radius: int, *,
                   in_place: bool = False) -> np.ndarray:
    """OpenCV's fill of ``mask`` (``cv2.INPAINT_TELEA`` or ``INPAINT_NS``); a new array, or
    ``image`` itself filled when ``in_place``.

    OpenCV inpaints 8-bit images only; 8 bits are plenty for a smooth diffusion fill. It reads
    only the pixels within ``radius`` of the hole, so it runs on the hole's bounding box plus
    that margin (the same result, without converting and scanning the whole photo).

    >>> img = np.random.default_rng(0).random((60, 80, 3), dtype=np.float32)
    >>> hole = np.zeros((60, 80), bool); hole[20:30, 30:45] = True
    >>> full = cv2.inpaint(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8),
    ...                    hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    >>> out = diffusion_fill(img, hole, cv2.INPAINT_TELEA, 5)
    >>> bool((np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)[hole] == full[hole]).all())
    True
    """
    out = image if in_place else image.copy()
    if not mask.any():
        return out
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    pad = radius + 2
    y0, y1 = max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, mask.shape[0])
    x0, x1 = max(cols[0] - pad, 0), min(cols[-1] + 1 + pad, mask.shape[1])
    box = image[y0:y1, x0:x1] * np.float32(255.0)
    box += np.float32(0.5)
    u8 = np.clip(box, 0, 255, out=box).astype(np.uint8)
    hole = np.ascontiguousarray(mask[y0:y1, x0:x1])
    filled = cv2.inpaint(u8, hole.view(np.uint8), radius, flag)
    out[y0:y1, x0:x1][hole] = filled[hole].astype(np.float32) / np.float32(255.0)
    return out


class _OpenCVEngine(Engine):
    flag: int
    radius = 5

    def inpaint(
        self, image: np.ndarray, mask: np.ndarray, *, progress: ProgressFn | None = None
    ) -> np.ndarray:
        # diffusion_fill already returns a new array whose pixels outside the mask are the
        # image's and whose fill is in [0, 1]: the base class's clip-and-copy pass is not needed.
        return diffusion_fill(np.asarray(image, np.float32), np.asarray(mask, bool), self.flag,
                              self.radius)

    def inpaint_in_place(
        self, image: np.ndarray, mask: np.ndarray, *, progress: ProgressFn | None = None
    ) -> np.ndarray:
        own = (isinstance(image, np.ndarray) and image.dtype == np.float32
               and image.flags.writeable and image.flags.c_contiguous)
        if not own:
            return self.inpaint(image, mask, progress=progress)
        return diffusion_fill(image, np.asarray(mask, bool), self.flag, self.radius,
                              in_place=True)

    def _inpaint(self, image: np.ndarray, mask: np.ndarray,
                 progress: ProgressFn | None) -> np.ndarray:
        return diffusion_fill(image, mask, self.flag, self.radius)


@register_engine
class TeleaEngine(_OpenCVEngine):
    name = "telea"
    flag = cv2.INPAINT_TELEA
    traits = BUILTIN_TRAITS["telea"]


@register_engine
class NavierStokesEngine(_OpenCVEngine):
    name = "ns"
    flag = cv2.INPAINT_NS
    traits = BUILTIN_TRAITS["ns"]
