"""Similarity alignment to the FFHQ template and feathered paste-back.

FFHQ-trained face models (StyleGAN, GFPGAN, PULSE) expect the eyes and mouth at fixed places.
:data:`FFHQ_5` is the five-point template of a 512 px FFHQ crop used by GFPGAN / facexlib
(eye centres, nose tip, mouth corners; image-left first). :func:`similarity` fits rotation,
uniform scale and translation to point pairs (Umeyama's least squares, no reflection);
:func:`warp_face` cuts the aligned crop (border: reflected, so faces at the photo's edge still
give a full crop) and :func:`paste_face` puts a processed crop back under a feathered mask,
leaving every pixel outside that mask bit-identical.
"""

from __future__ import annotations

import numpy as np

#: Five points of an aligned 512 px FFHQ face: eye centres, nose tip, mouth corners.
FFHQ_5 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                   [201.26117, 371.41043], [313.08905, 371.15118]])
#: Without mouth corners (the detector gives the mouth's centre): eyes, nose, mouth centre.
FFHQ_4 = np.vstack([FFHQ_5[:3], FFHQ_5[3:].mean(0, keepdims=True)])


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix M (rotation, uniform scale, translation) minimising sum |M src - dst|^2.

    >>> src = np.array([[0, 0], [1, 0], [0, 1]], float)
    >>> m = similarity(src, 2 * src[:, ::-1] * [1, -1] + 5)  # rotate -90 deg, x2, shift 5
    >>> (np.round(m, 6) + 0.0).tolist()
    [[0.0, 2.0, 5.0], [-2.0, 0.0, 5.0]]
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        s[1, 1] = -1
    r = u @ s @ vt
    var = (a ** 2).sum() / len(src)
    scale = np.trace(np.diag(d) @ s) / max(var, 1e-12)
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = md - m[:, :2] @ ms
    return m


def align_matrix(points: np.ndarray, size: int = 512) -> np.ndarray:
    """Photo pixels -> a ``size`` px FFHQ crop, from 5 points (eyes, nose, mouth corners) or
    4 (eyes, nose, mouth centre)."""
    template = FFHQ_5 if len(points) == 5 else FFHQ_4
    return similarity(points, template * (size / 512.0))


def warp_face(rgb: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` x ``size`` crop that ``matrix`` maps onto (float32, reflected border)."""
    import cv2

    flags = cv2.INTER_AREA if abs(np.linalg.det(matrix[:, :2])) < 1 else cv2.INTER_CUBIC
    crop = cv2.warpAffine(np.asarray(rgb, np.float32), matrix, (size, size), flags=flags,
                          borderMode=cv2.BORDER_REFLECT_101)
    return np.clip(crop, 0.0, 1.0)


def feather_mask(size: int, *, margin: float = 0.1) -> np.ndarray:
    """float32 size x size weight, 1 inside and fading to exactly 0 over ``margin`` x size at
    the crop's edges (a smooth step), so that the paste has no seam."""
    ramp = max(1, int(round(margin * size)))
    t = np.clip((np.arange(size) + 0.5) / ramp, 0, 1)
    t = np.minimum(t, t[::-1])
    t = t * t * (3 - 2 * t)
    t[0] = t[-1] = 0.0
    return np.outer(t, t).astype(np.float32)


def paste_face(rgb: np.ndarray, face: np.ndarray, matrix: np.ndarray, *,
               strength: float = 1.0, margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` with ``face`` (an aligned crop cut by ``matrix``) blended back; returns the new
    photo and the weight (HxW float32) used. Pixels where the weight is 0 are copied unchanged
    from ``rgb``; ``strength`` (0-1) scales the weight (0: the photo unchanged)."""
    import cv2

    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {strength}")
    h, w = rgb.shape[:2]
    size = face.shape[0]
    inv = cv2.invertAffineTransform(matrix)
    flags = cv2.INTER_AREA if abs(np.linalg.det(inv[:, :2])) < 1 else cv2.INTER_LINEAR
    weight = cv2.warpAffine(feather_mask(size, margin=margin), inv, (w, h), flags=flags,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    weight = np.clip(weight, 0, 1) * np.float32(strength)
    back = cv2.warpAffine(np.asarray(face, np.float32), inv, (w, h), flags=flags,
                          borderMode=cv2.BORDER_REPLICATE)
    out = np.array(rgb, np.float32, copy=True)
    on = weight > 0
    wgt = weight[on][:, None]
    out[on] = (1 - wgt) * out[on] + wgt * np.clip(back[on], 0, 1)
    return out, weight
