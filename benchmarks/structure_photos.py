"""Photos with structure (buildings, lines, edges) for ``bench_structure.py``.

Source: the sample images of Debian's ``opencv-doc`` package (``apt-get download`` + ``dpkg -x``
into ``benchmarks/.cache/opencv-doc/`` on first use, through :func:`photos.debian_package`).

The split is frozen: the 12 photos sorted by name, even index -> TUNE (the only photos used to
choose constants), odd index -> HELDOUT (judged, never tuned on). Each photo's SHA-256 is frozen
too, so a new package version that changes a photo stops the benchmark instead of silently
moving its numbers. basketball1, blox and box_in_scene are grey: loaded as three equal channels.
"""

from __future__ import annotations

import hashlib
from functools import cache

import cv2
import numpy as np
from PIL import Image

from photos import OPENCV_DOC_PACKAGE, opencv_doc_data, package_source

#: name -> SHA-256 of the file in opencv-doc 4.6.0+dfsg-12, sorted by name.
STRUCTURE_PHOTOS = {
    "aero1.jpg": "d9a69191f6e3642ea361bc3c62e677b2f40fe6534b78da540f4155e0734b59ef",
    "basketball1.png": "ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6",
    "blox.jpg": "11115aa2cac174b7b01f907196e077ce19dd164145b82dd68129f92bdcae6884",
    "board.jpg": "4c9a24ba67138ad5486d550f586cc5dd1161be112f1c1bea336d6c550cdf255f",
    "box_in_scene.png": "8b0225ff76244a42bd1400c0904f8b7afea7d97b7d8115495e42e98ad347bd51",
    "building.jpg": "742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07",
    "fruits.jpg": "9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1",
    "graf1.png": "1504b769303c7bde00fa578eeaad3c68e02aceabeb1242e556f1f8d19e4bdea5",
    "home.jpg": "23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2",
    "leuvenA.jpg": "b2977cdbd9fb3f94dadd6f76cf586d145676deb8a22b5f0f42149d21c058c09f",
    "messi5.jpg": "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9",
    "stuff.jpg": "21cd00afbdd0727f445dd91c0a09633e6345ed5b05a3d2355453a1f3c314c6c5",
}
SPLITS = {
    "tune": tuple(name for i, name in enumerate(STRUCTURE_PHOTOS) if i % 2 == 0),
    "heldout": tuple(name for i, name in enumerate(STRUCTURE_PHOTOS) if i % 2 == 1),
}
SIZE_4K = (2160, 3840)


def load_structure_photo(name: str, long_side: int = 512) -> np.ndarray:
    """Float32 HxWx3 RGB in [0, 1], resized (area interpolation) so the long side is ``long_side``."""
    rgb = _original(name)
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size != (w, h):
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return rgb.astype(np.float32) / 255.0


def load_structure_4k(name: str) -> np.ndarray:
    """Float32 RGB of exactly 3840x2160: bicubic resize to cover it, then a centre crop."""
    rgb = _original(name)
    h, w = rgb.shape[:2]
    th, tw = SIZE_4K
    scale = max(th / h, tw / w)
    size = (max(tw, round(w * scale)), max(th, round(h * scale)))
    big = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
    y0, x0 = (size[1] - th) // 2, (size[0] - tw) // 2
    return np.ascontiguousarray(big[y0 : y0 + th, x0 : x0 + tw]).astype(np.float32) / 255.0


def opencv_doc_source() -> str:
    """Which opencv-doc .deb the photos came from, and its SHA-256 (for the results file)."""
    return package_source(OPENCV_DOC_PACKAGE)


@cache
def _original(name: str) -> np.ndarray:
    """uint8 RGB of the photo as shipped, after checking its SHA-256."""
    if name not in STRUCTURE_PHOTOS:
        raise ValueError(f"unknown structure photo {name!r}; choose from {', '.join(STRUCTURE_PHOTOS)}")
    path = opencv_doc_data() / name
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != STRUCTURE_PHOTOS[name]:
        raise RuntimeError(f"{path} has SHA-256 {digest}, not the frozen {STRUCTURE_PHOTOS[name]}: "
                           f"the {OPENCV_DOC_PACKAGE} package changed this photo")  # fmt: skip
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    rgb.setflags(write=False)
    return rgb
