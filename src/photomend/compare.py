"""Before/after sheets: the photo with the removed area tinted, beside the result, both labelled.

``photomend remove --compare`` and ``photomend example`` write these sheets. Arrays follow the
photomend convention (float32 HxWx3 RGB in [0, 1], masks bool HxW with True = removed); turning
a sheet into a file is :func:`photomend.io.write_image`'s job.
"""

from __future__ import annotations

import cv2
import numpy as np

from photomend.errors import InputError
from photomend.io import resize_mask

#: Colour that marks the removed area in the "before" panel (magenta: rare in photographs).
TINT = (1.0, 0.0, 1.0)
#: Background of the label strips and of the gap between the panels.
BACKGROUND = (0.12, 0.12, 0.12)


def before_after(
    image: np.ndarray,
    mask: np.ndarray,
    result: np.ndarray,
    *,
    labels: tuple[str, str] = ("before", "after"),
    max_side: int | None = None,
) -> np.ndarray:
    """Return a side-by-side sheet: ``image`` with ``mask`` tinted | ``result``, labelled.

    Parameters
    ----------
    image : float HxWx3 RGB in [0, 1], the photo before removal.
    mask : bool HxW, True where content was removed; tinted magenta and outlined.
    result : float HxWx3 RGB in [0, 1], the same size as ``image``.
    labels : the captions drawn above the two panels.
    max_side : scale both panels down so that their long side is at most this many pixels
        (None: full size). The mask is scaled conservatively, so thin strokes stay visible.

    Returns
    -------
    float32 array of shape (panel height + label strip, 2 * panel width + gap, 3) in [0, 1].
    The inputs are not modified.

    Raises
    ------
    InputError : arrays that are not float RGB, or whose sizes differ.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((40, 60, 3), np.float32)
    >>> hole = np.zeros((40, 60), bool); hole[10:20, 10:30] = True
    >>> before_after(img, hole, img).shape
    (60, 124, 3)
    >>> before_after(img, hole, img, max_side=30).shape
    (40, 64, 3)
    """
    image = _check_rgb(image, "image")
    result = _check_rgb(result, "result")
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.shape != image.shape[:2] or result.shape != image.shape:
        raise InputError(
            f"image {image.shape}, mask {mask.shape} and result {result.shape} must have the same "
            "height and width"
        )
    if max_side is not None and int(max_side) <= 0:
        raise InputError(f"max_side must be a positive number of pixels, got {max_side}")
    mask = mask.astype(bool)
    h, w = mask.shape
    if max_side is not None and max(h, w) > max_side:
        f = max_side / max(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        result = cv2.resize(result, size, interpolation=cv2.INTER_AREA)
        mask = resize_mask(mask, size)
        h, w = mask.shape

    strip = int(np.clip(round(0.06 * min(h, w)), 20, 120))
    gap = max(4, round(0.01 * w))
    sheet = np.empty((strip + h, 2 * w + gap, 3), np.float32)
    sheet[:] = BACKGROUND
    sheet[strip:, :w] = tint_mask(image, mask, width=max(1, round(min(h, w) / 400)))
    sheet[strip:, w + gap :] = np.clip(result, 0.0, 1.0)
    for x, label in ((0, labels[0]), (w + gap, labels[1])):
        caption(sheet, label, x, w, strip)
    return sheet


def tint_mask(image: np.ndarray, mask: np.ndarray, *, width: int = 1) -> np.ndarray:
    """A copy of ``image`` with ``mask`` tinted half-way to :data:`TINT` and outlined in it.

    >>> import numpy as np
    >>> out = tint_mask(np.zeros((8, 8, 3), np.float32), np.eye(8, dtype=bool))
    >>> out[0, 0].tolist(), out[0, 1].tolist()
    ([1.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    """
    tint = np.array(TINT, np.float32)
    out = np.clip(np.asarray(image, np.float32), 0.0, 1.0)  # clip copies: the caller's is safe
    out[mask] = 0.5 * out[mask] + 0.5 * tint
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    inner = cv2.erode(mask.astype(np.uint8), kernel, borderValue=1).astype(bool)
    out[mask & ~inner] = tint
    return out


def caption(sheet: np.ndarray, text: str, x: int, width: int, strip: int) -> None:
    """Draw ``text`` in white, left-aligned in the strip above the panel starting at ``x``."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = strip / 40.0  # Hershey simplex capitals are ~22 px high at scale 1
    thickness = max(1, round(strip / 20))
    margin = max(4, strip // 3)
    (tw, _), _ = cv2.getTextSize(text, font, scale, thickness)
    if tw > width - 2 * margin > 0:
        scale *= (width - 2 * margin) / tw
    baseline_y = round(strip / 2 + 11 * scale)
    ink = np.zeros((strip, width), np.uint8)  # OpenCV draws text on 8-bit images only
    cv2.putText(ink, text, (margin, baseline_y), font, scale, 255, thickness, cv2.LINE_AA)
    alpha = ink[:, :, None].astype(np.float32) / 255.0
    area = sheet[:strip, x : x + width]
    area[:] = area * (1.0 - alpha) + alpha  # white text, anti-aliased over the strip


def _check_rgb(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 3 or a.shape[2] != 3:
        raise InputError(f"{name} must be an HxWx3 RGB array, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise InputError(
            f"{name} must be float RGB in [0, 1], got {a.dtype} (photomend.read_image converts)"
        )
    return a.astype(np.float32, copy=False)
