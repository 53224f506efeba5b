"""Upscaling as a library: :func:`upscale` (any image kind in, the same kind out) and
:func:`upscale_array` (the float32 core the CLI and other verbs build on)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from PIL import Image

from photomend.api import as_given
from photomend.errors import InputError
from photomend.io import ImageSource, LoadedImage, read_image
from photomend.limits import max_pixels_limit, too_large
from photomend.upscaling.base import ProgressFn, check_upscaler, create_upscaler
from photomend.upscaling.tiling import store, upscale_tiled

#: The model used when none is named: photomend's own compact CNN (x2, x3, x4).
DEFAULT_UPSCALER = "compact"
#: Preferred for old photos (noise and blur) when installed: SRMD, noise level estimated.
SCAN_UPSCALER = "srmd"


def scan_upscaler(scale: int) -> str:
    """The upscaler for a restored scan: :data:`SCAN_UPSCALER` when its ``scale`` is installed
    (``photomend models fetch srmd``), else :data:`DEFAULT_UPSCALER`.

    >>> scan_upscaler(2) in (SCAN_UPSCALER, DEFAULT_UPSCALER)
    True
    """
    from photomend.upscaling.base import upscaler_class

    if int(scale) in upscaler_class(SCAN_UPSCALER).installed_scales():
        return SCAN_UPSCALER
    return DEFAULT_UPSCALER


def upscale(
    image: ImageSource,
    scale: int = 2,
    *,
    model: str | None = None,
    tile: int | None = None,
    tile_pad: int | None = None,
    max_pixels: int | None = None,
    options: dict | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray | Image.Image:
    """Upscale ``image`` by ``scale`` (2, 3 or 4; 8 for models that have it).

    Parameters
    ----------
    image : path, encoded bytes, PIL image or array (uint8, uint16 or float in [0, 1];
        HxW, HxWx3 or HxWx4).
    scale : the integer factor.
    model : an upscaler name (see :func:`photomend.upscaling.available_upscalers`); None = the
        bundled ``compact`` network. Zoo models must be installed (``photomend models``).
    tile : largest tile side in input pixels (None: the model's default; 0: no tiling).
    tile_pad : context read around each tile, in input pixels (None: the model's need).
    max_pixels : refuse inputs *and outputs* larger than this (default
        ``$PHOTOMEND_MAX_PIXELS`` or 200 megapixels); checked before any upscaling.
    options : the model's own settings, e.g. ``{"noise": 5}`` for ``srmd`` (see its
        ``options``); an option the model lacks raises InputError.
    progress : ``progress(stage, done, total)``, called after each tile.

    Returns
    -------
    The kind it was given, ``scale`` times larger: an array of the same dtype (float in ->
    float32) and channels; a PIL image of the same mode family; for a path or bytes, an 8-bit
    RGB(A) PIL image whose ``info`` carries the ICC profile and EXIF. An alpha channel is
    upscaled separately by bicubic interpolation.

    Raises
    ------
    InputError : unreadable image, unknown model (UnknownModelError), scale the model lacks
        (UnsupportedScaleError), a zoo model not installed (ModelMissingError, whose message
        has the command that installs it), input or output over the pixel limit
        (ImageTooLargeError).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((8, 10, 4), np.uint8)
    >>> upscale(img, 3, model="bicubic").shape
    (24, 30, 4)
    """
    name = model or DEFAULT_UPSCALER
    check_upscaler(name, scale)
    create_upscaler(name, None, **(options or {}))  # bad options fail before reading
    loaded = read_image(image, max_pixels=max_pixels)
    check_output_size(loaded.size, scale, max_pixels)
    result = upscale_loaded(loaded, scale, model=name, tile=tile, tile_pad=tile_pad,
                            out_dtype=np.float32, options=options, progress=progress)
    return as_given(result, image)


def upscale_loaded(
    loaded: LoadedImage,
    scale: int,
    *,
    model: str | None = None,
    tile: int | None = None,
    tile_pad: int | None = None,
    out_dtype: np.dtype | type = np.float32,
    options: dict | None = None,
    progress: ProgressFn | None = None,
) -> LoadedImage:
    """``loaded`` upscaled, metadata kept, alpha upscaled by bicubic interpolation.

    ``out_dtype`` uint8/uint16 keeps a large result compact (4x smaller than float32);
    :func:`photomend.io.write_image` writes such pixels as they are.
    """
    rgb = upscale_array(loaded.rgb, scale, model=model, tile=tile, tile_pad=tile_pad,
                        out_dtype=out_dtype, options=options, progress=progress)
    alpha = None if loaded.alpha is None else upscale_alpha(loaded.alpha, scale, out_dtype)
    return replace(loaded, rgb=rgb, alpha=alpha)


def upscale_array(
    rgb: np.ndarray,
    scale: int = 2,
    *,
    model: str | None = None,
    tile: int | None = None,
    tile_pad: int | None = None,
    out_dtype: np.dtype | type = np.float32,
    options: dict | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Upscale float32 HxWx3 RGB in [0, 1] by ``scale``; returns (sH)x(sW)x3 of ``out_dtype``.
    ``options``: the model's own settings (:func:`upscale`).

    >>> upscale_array(np.zeros((4, 6, 3), np.float32), 2, model="lanczos").shape
    (8, 12, 3)
    """
    up = create_upscaler(model or DEFAULT_UPSCALER, scale, **(options or {}))
    tile = up.traits.tile if tile is None else int(tile)
    tile_pad = up.traits.context if tile_pad is None else int(tile_pad)
    if tile < 0 or tile_pad < 0:
        raise InputError(f"tile and tile_pad must not be negative, got {tile} and {tile_pad}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"expected an HxWx3 RGB array, got shape {rgb.shape}")
    scale = int(scale)
    up = up.prepare(np.asarray(rgb, np.float32))
    return upscale_tiled(
        np.asarray(rgb, np.float32), scale, lambda t: up.upscale_tile(t, scale),
        tile=tile, tile_pad=tile_pad, out_dtype=out_dtype, progress=progress,
    )


def upscale_alpha(alpha: np.ndarray, scale: int, out_dtype: np.dtype | type = np.float32):
    """An alpha channel (HxW float in [0, 1]) upscaled by bicubic interpolation, clipped."""
    h, w = alpha.shape
    up = cv2.resize(np.asarray(alpha, np.float32), (w * scale, h * scale),
                    interpolation=cv2.INTER_CUBIC)
    return store(np.clip(up, 0.0, 1.0, out=up), out_dtype)


def check_output_size(size: tuple[int, int], scale: int, max_pixels: int | None = None) -> None:
    """Raise ImageTooLargeError when a ``size`` = (width, height) image upscaled by ``scale``
    would exceed the pixel limit (before any work is done).

    >>> check_output_size((100, 100), 4, 1_000_000)
    """
    limit = max_pixels_limit(max_pixels)
    w, h = size[0] * int(scale), size[1] * int(scale)
    if w * h > limit:
        raise too_large(f"the x{scale} output", limit, width=w, height=h, verb="would be")
