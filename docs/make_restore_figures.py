"""Draw the pictures of docs/restore.md: synthetic damage examples and restore results.

    python docs/make_restore_figures.py

Uses held-out photos only (scikit-image's, never trained on) and fixed seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "benchmarks"))

from photos import _skimage_photo  # noqa: E402

from photomend.compare import BACKGROUND, caption  # noqa: E402
from photomend.io import LoadedImage, write_image  # noqa: E402
from photomend.restoration.degrade import degrade  # noqa: E402
from photomend.restoration.pipeline import restore_array  # noqa: E402
from photomend.restoration.sheet import three_way  # noqa: E402


def _grid(panels: list[list[np.ndarray]], labels: list[list[str]]) -> np.ndarray:
    h, w = panels[0][0].shape[:2]
    strip, gap = 24, 6
    rows, cols = len(panels), len(panels[0])
    sheet = np.empty((rows * (strip + h + gap), cols * (w + gap), 3), np.float32)
    sheet[:] = BACKGROUND
    for r in range(rows):
        for c in range(cols):
            y, x = r * (strip + h + gap), c * (w + gap)
            sub = sheet[y:y + strip + h, x:x + w]
            sub[strip:] = panels[r][c]
            caption(sub, labels[r][c], 0, w, strip)
    return sheet


def damage_examples() -> None:
    photos = [("astronaut", 1), ("chelsea", 2), ("coffee", 3)]
    panels, labels = [], []
    for name, seed in photos:
        rgb = _skimage_photo(name).astype(np.float32) / 255
        h, w = rgb.shape[:2]
        ch, cw = min(h, round(w * 3 / 4)), min(w, round(h * 4 / 3))  # centre crop to 4:3
        rgb = rgb[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw]
        rgb = cv2.resize(rgb, (384, 288), interpolation=cv2.INTER_AREA)
        d = degrade(rgb, seed=seed, amount=2.0, scale=0.6)
        ageing = degrade(rgb, seed=seed, defects=())
        mask = np.repeat(d.mask[:, :, None], 3, axis=2).astype(np.float32)
        panels.append([rgb, ageing.image, d.image, mask])
        labels.append([f"{name}: clean", "ageing only (not a defect)", f"damaged, seed {seed}",
                       f"truth mask ({', '.join(sorted(d.kinds))})"])
    write_image(LoadedImage(_grid(panels, labels)), HERE / "degrade_examples.jpg", quality=88,
                overwrite=True)


def restore_examples() -> None:
    for name, seed in (("astronaut", 11), ("coffee", 12)):
        rgb = _skimage_photo(name).astype(np.float32) / 255
        h, w = rgb.shape[:2]  # a 1024-px scan, as in benchmarks/bench_restore.py
        rgb = cv2.resize(rgb, (round(w * 1024 / max(h, w)), round(h * 1024 / max(h, w))),
                         interpolation=cv2.INTER_CUBIC)
        d = degrade(rgb, seed=seed, scale=1.0, amount=1.5)
        out, mask = restore_array(d.image)
        sheet = three_way(d.image, mask, out, max_side=640)
        write_image(LoadedImage(sheet), HERE / f"restore_{name}.jpg", quality=88, overwrite=True)


if __name__ == "__main__":
    damage_examples()
    restore_examples()
    print("wrote docs/degrade_examples.jpg, docs/restore_*.jpg")
