"""Object removal: the library function every front end (CLI, server, batch) calls."""

from __future__ import annotations


import numpy as np

from photomend.engines import ProgressFn, create_engine
from photomend.errors import MaskError
from photomend.hd import run_strategy

DEFAULT_ENGINE = "patchmatch"
DEFAULT_HD_STRATEGY = "auto"
DEFAULT_WORKING_SIZE = 512


def remove_array(
    rgb: np.ndarray,
    mask: np.ndarray,
    *,
    engine: str = DEFAULT_ENGINE,
    hd_strategy: str = DEFAULT_HD_STRATEGY,
    working_size: int = DEFAULT_WORKING_SIZE,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Fill the pixels of ``rgb`` under ``mask`` and return a new float32 HxWx3 array.

    ``rgb`` is float32 HxWx3 in [0, 1]; ``mask`` is bool HxW, True where content is removed.
    An empty mask returns an unchanged copy; a mask covering everything raises :class:`MaskError`.

    >>> import numpy as np
    >>> img = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    >>> hole = np.zeros((64, 64), bool); hole[20:30, 20:30] = True
    >>> remove_array(img, hole, engine="telea").shape
    (64, 64, 3)
    """
    rgb = np.asarray(rgb)
    mask = np.asarray(mask)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise MaskError(f"expected an HxWx3 RGB array, got shape {rgb.shape}")
    if mask.shape != rgb.shape[:2]:
        raise MaskError(
            f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{rgb.shape[1]}x{rgb.shape[0]} (width x height)"
        )
    mask = mask.astype(bool)
    rgb = rgb.astype(np.float32, copy=False)
    if not mask.any():
        return rgb.copy()
    if mask.all():
        raise MaskError("the mask covers the whole image: there is nothing left to copy from")
    eng = create_engine(engine, seed=seed)
    return run_strategy(
        hd_strategy, eng, rgb, mask, working_size=working_size, progress=progress
    )
