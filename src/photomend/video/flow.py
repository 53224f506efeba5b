"""Optical flow between neighbouring low-resolution frames, and warping by it (OpenCV DIS).

The multi-frame model (:mod:`photomend.video.vsr`) aligns the features it carries from one
frame to the next with these flows; its training script computes them with the same
functions, so the network learns to use exactly the flow it gets at run time.

Convention: ``flow = dis_flow(a, b)`` gives, for each pixel ``p`` of ``a``, the offset to the
same scene point in ``b``: ``a[p] ~ b[p + flow[p]]``, so ``warp(b_features, flow)`` aligns
``b``'s features to ``a``.

>>> import numpy as np
>>> a = np.random.default_rng(0).random((32, 40, 3)).astype(np.float32)
>>> flow = dis_flow(a, a)
>>> float(abs(flow).max()) < 0.5
True
>>> warp(a, np.zeros((32, 40, 2), np.float32)).shape
(32, 40, 3)
"""

from __future__ import annotations

import cv2
import numpy as np

#: DIS preset: FAST is ~4x slower than ULTRAFAST at 640x360 and clearly more accurate on
#: small moving objects; both are a few ms per frame pair next to the network.
PRESET = cv2.DISOPTICAL_FLOW_PRESET_FAST


def gray_u8(rgb: np.ndarray) -> np.ndarray:
    """float32 HxWx3 RGB in [0, 1] -> uint8 HxW luma (what DIS takes)."""
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)


def dis_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flow from frame ``a`` to frame ``b`` (float32 HxWx3 RGB or uint8 HxW gray), HxWx2."""
    ga = a if a.ndim == 2 else gray_u8(a)
    gb = b if b.ndim == 2 else gray_u8(b)
    dis = cv2.DISOpticalFlow_create(PRESET)
    dis.setUseSpatialPropagation(True)
    return dis.calc(ga, gb, None)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (HxWxC float32, any C) sampled at ``p + flow[p]``: bilinear, edges repeated."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    out = cv2.remap(np.ascontiguousarray(image, np.float32), mx, my, cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out[..., None] if image.ndim == 3 and out.ndim == 2 else out
