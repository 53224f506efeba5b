"""The fill methods the 512-px benchmark compares: photomend's engines and the PyPatchMatch peer.

Each method takes the photo with the hole already blanked (so none can peek at the truth), the
bool mask and a seed, and returns float32 RGB in [0, 1]. A peer that cannot be imported is kept
in the list with ``missing`` set, so the table says "not installed" instead of crashing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from photomend import remove_array

#: PyPatchMatch's ``patch_size`` is a radius: 3 compares 7x7 patches, as in its README and
#: examples. Its default of 15 (31x31 patches) is 7x slower (3.8 s vs 0.5 s at 512x288) and
#: would not finish 4K in the time allowed.
PYPATCHMATCH_PATCH_SIZE = 3

FillFn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class Method:
    """A named fill function; ``peer`` = not photomend's main engine; ``missing`` = why absent."""

    key: str
    label: str
    fill: FillFn | None
    peer: bool
    missing: str | None = None


def _photomend(engine: str) -> FillFn:
    def fill(rgb: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
        return remove_array(rgb, mask, engine=engine, hd_strategy="original", seed=seed)

    return fill


def pypatchmatch_version() -> str | None:
    """Installed PyPatchMatch version, or None."""
    try:
        import patchmatch
    except ImportError:
        return None
    return getattr(patchmatch, "__version__", "unknown")


def _pypatchmatch() -> tuple[FillFn | None, str | None]:
    try:
        from patchmatch import patch_match
    except ImportError:
        return None, "not installed"
    if not getattr(patch_match, "patchmatch_available", True):
        return None, "not installed (native library missing)"

    def fill(rgb: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
        patch_match.set_random_seed(seed)
        u8 = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
        hole = mask.astype(np.uint8) * 255  # non-zero = hole
        out = patch_match.inpaint(u8, hole, patch_size=PYPATCHMATCH_PATCH_SIZE)
        return out.astype(np.float32) / 255.0

    return fill, None


def pypatchmatch_method() -> Method:
    """The PyPatchMatch peer; ``missing`` says why when it cannot be imported."""
    fill, missing = _pypatchmatch()
    return Method("pypatchmatch", f"PyPatchMatch (patch_size={PYPATCHMATCH_PATCH_SIZE})", fill,
                  peer=True, missing=missing)  # fmt: skip


def opencv_fill(flag: int, radius: int) -> FillFn:
    """``cv2.inpaint`` called directly on uint8 RGB (``flag``: ``cv2.INPAINT_TELEA`` or ``_NS``)."""

    def fill(rgb: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
        u8 = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
        out = cv2.inpaint(u8, mask.astype(np.uint8), radius, flag)
        return out.astype(np.float32) / 255.0

    return fill


def all_methods() -> list[Method]:
    """photomend patchmatch first (the one judged), then the peers."""
    return [
        Method("patchmatch", "photomend patchmatch", _photomend("patchmatch"), peer=False),
        Method("telea", "photomend telea", _photomend("telea"), peer=True),
        Method("ns", "photomend ns", _photomend("ns"), peer=True),
        pypatchmatch_method(),
    ]


def warm_up(methods: list[Method]) -> None:
    """Run every method once on a small image: numba compiles, libraries load, caches fill."""
    rng = np.random.default_rng(0)
    img = rng.random((96, 128, 3), dtype=np.float32)
    hole = np.zeros((96, 128), bool)
    hole[30:60, 40:90] = True
    for m in methods:
        if m.fill is not None:
            m.fill(np.where(hole[..., None], 0, img), hole, 0)
