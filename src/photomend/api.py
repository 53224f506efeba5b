"""The public verbs: take whatever the caller holds, hand back the same kind of thing."""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

from photomend.engines import ProgressFn, engine_names, engine_traits
from photomend.errors import InputError, UnknownEngineError
from photomend.io import ImageSource, LoadedImage, read_image, read_mask, to_uint8, to_uint16
from photomend.removal import (
    DEFAULT_ENGINE,
    DEFAULT_HD_STRATEGY,
    DEFAULT_WORKING_SIZE,
    remove_array,
)

EMPTY_MASK_MESSAGE = "mask is empty: nothing to remove, image returned unchanged"


def remove(
    image: ImageSource,
    mask: ImageSource,
    *,
    engine: str = DEFAULT_ENGINE,
    hd_strategy: str = DEFAULT_HD_STRATEGY,
    working_size: int = DEFAULT_WORKING_SIZE,
    seed: int = 0,
    resize_mask: bool = False,
    max_pixels: int | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray | Image.Image:
    """Remove what ``mask`` marks from ``image`` and fill the hole from its surroundings.

    Parameters
    ----------
    image : path, encoded bytes, PIL image or array (uint8, uint16 or float in [0, 1];
        HxW, HxWx3 or HxWx4).
    mask : the same kinds; any non-zero pixel (or non-zero alpha on a transparent layer) is
        removed. See :func:`photomend.io.read_mask`.
    engine : inpainting engine, see ``photomend engines``.
    hd_strategy : how large images are handled: 'auto', 'cra', 'crop', 'resize' or 'original'.
    working_size : the size, in pixels, the engine works at under the downscaling strategies.
    seed : seed of the randomised engines; the same seed gives the same result.
    resize_mask : scale a mask of another size to the image instead of raising MaskError.
    max_pixels : refuse larger inputs (default ``$PHOTOMEND_MAX_PIXELS`` or 200 megapixels).
    progress : ``progress(stage, done, total)``, called as work advances.

    Returns
    -------
    The kind it was given: an array of the same dtype (float in -> float32) and channels, with
    any alpha channel passed through untouched; a PIL image of the same mode family (gray, RGB,
    with or without alpha); for a path or bytes, an 8-bit RGB(A) PIL image whose ``info``
    carries the ICC profile and EXIF. EXIF orientation is applied to every input. To keep a
    16-bit file at 16 bits, use :func:`photomend.io.read_image`,
    :func:`photomend.removal.remove_array` and :func:`photomend.io.write_image`.

    Raises
    ------
    InputError : unreadable image or mask, mask of another size, a mask covering everything,
        an unknown engine, an image over the pixel limit (all subclasses of InputError).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    >>> hole = np.zeros((32, 32), bool); hole[10:16, 10:16] = True
    >>> out = remove(img, hole, engine="telea")
    >>> out.dtype, out.shape, bool((out[~hole] == img[~hole]).all())
    (dtype('uint8'), (32, 32, 3), True)
    """
    check_engine(engine)
    if int(working_size) <= 0:
        raise InputError(f"working_size must be a positive number of pixels, got {working_size}")
    loaded = read_image(image, max_pixels=max_pixels)
    hole = read_mask(mask, size=loaded.size, resize=resize_mask, max_pixels=max_pixels)
    if hole.any():
        rgb = remove_array(
            loaded.rgb, hole, engine=engine, hd_strategy=hd_strategy,
            working_size=working_size, seed=seed, progress=progress,
        )
        result = loaded.with_rgb(rgb)
    else:
        warnings.warn(EMPTY_MASK_MESSAGE, stacklevel=2)
        result = loaded
    return as_given(result, image, hole=hole)


def check_engine(name: str) -> None:
    """Raise UnknownEngineError unless ``name`` is a registered engine (before any slow work).

    >>> check_engine("telea")
    """
    if engine_traits(name) is None:
        known = ", ".join(sorted(engine_names()))
        raise UnknownEngineError(f"unknown engine {name!r}; available: {known}")


def _gray(rgb: np.ndarray, hole: np.ndarray | None) -> np.ndarray:
    # Engines fill three equal channels alike, but average inside the hole in case one does not;
    # outside it channel 0 is the caller's exact gray value. hole=None: every pixel is new
    # (e.g. upscaled), so all are averaged.
    if hole is None:
        return rgb.mean(axis=2, keepdims=True)
    return np.where(hole[:, :, None], rgb.mean(axis=2, keepdims=True), rgb[:, :, :1])


def as_given(result: LoadedImage, source: ImageSource, *, hole: np.ndarray | None = None,
             color: bool = False) -> np.ndarray | Image.Image:
    """``result`` as the kind of thing the caller passed as ``source``: an array like it
    (:func:`as_array`), a PIL image like it, or for a path or bytes an 8-bit RGB(A) PIL image
    (:func:`as_pil`). Every verb returns through this."""
    if isinstance(source, np.ndarray):
        return as_array(result, source, hole=hole, color=color)
    like = source if isinstance(source, Image.Image) else None
    return as_pil(result, like, hole=hole, color=color)


def as_array(result: LoadedImage, like: np.ndarray, *, hole: np.ndarray | None = None,
             color: bool = False) -> np.ndarray:
    """``result`` as the kind of array the caller gave (``like``): its dtype, its channels (gray
    stays gray unless ``color``), its own alpha values bit for bit unless the size changed.

    ``hole``: where the pixels are new (a gray result keeps the caller's exact values
    elsewhere); None means everywhere.
    """
    channels = 1 if like.ndim == 2 else like.shape[2]
    gray_out = channels in (1, 2) and not color
    color = _gray(result.rgb, hole) if gray_out else result.rgb
    if like.dtype == np.uint8:
        color = to_uint8(color)
    elif like.dtype == np.uint16:
        color = to_uint16(color)
    if channels in (2, 4):
        # The caller's own alpha values, bit for bit (float alpha comes back as float32).
        alpha = like[:, :, -1].astype(color.dtype)
        if result.alpha is not None and result.alpha.shape != alpha.shape:  # resized (upscale)
            alpha = (to_uint8(result.alpha) if like.dtype == np.uint8 else
                     to_uint16(result.alpha) if like.dtype == np.uint16 else result.alpha)
        color = np.dstack([color, alpha])
    return color[:, :, 0] if gray_out and like.ndim == 2 else color


def as_pil(result: LoadedImage, like: Image.Image | None = None, *,
           hole: np.ndarray | None = None, color: bool = False) -> Image.Image:
    """``result`` as a PIL image in the mode family of ``like`` (gray stays gray unless
    ``color``; None: 8-bit RGB), alpha re-attached, ICC profile and EXIF in ``.info``."""
    mode = like.mode if like is not None else "RGB"
    icc = result.icc_profile
    gray_modes = ("1", "L", "LA", "La", "I", "F")
    if not color and (mode in gray_modes or mode.startswith("I;16")):
        gray = _gray(result.rgb, hole)[:, :, 0]
        if mode.startswith("I"):
            out = Image.fromarray(to_uint16(gray))
            out = out.convert("I") if mode == "I" else out
        elif mode == "F":
            out = Image.fromarray(gray, "F")
        else:
            out = Image.fromarray(to_uint8(gray), "L")
        icc = like.info.get("icc_profile") if like is not None else None  # the gray profile fits
    else:
        out = Image.fromarray(to_uint8(result.rgb), "RGB")
    if result.alpha is not None:
        out = out.convert("LA" if out.mode == "L" else "RGBA")
        out.putalpha(Image.fromarray(to_uint8(result.alpha), "L"))
    if icc:
        out.info["icc_profile"] = icc
    if result.exif:
        out.info["exif"] = result.exif
    return out
