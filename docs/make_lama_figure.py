"""Draw docs/lama_cra.png: how CRA runs on top of LaMa (data flow, with the bundled example photo).

    python docs/make_lama_figure.py

The photo panels are real computations on ``src/photomend/data/example.jpg`` and its mask (the
working copy, the hole, the high-frequency residual CRA transfers); the network itself is drawn
as a box — no LaMa output is shown, since the published weights are not available here.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from photomend.io import read_image, read_mask

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "photomend" / "data"
OUT = ROOT / "docs" / "lama_cra.png"
W, H = 1500, 640
THUMB = 260


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _thumb(rgb: np.ndarray) -> Image.Image:
    h, w = rgb.shape[:2]
    f = THUMB / max(h, w)
    small = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return Image.fromarray(np.clip(small * 255 + 0.5, 0, 255).astype(np.uint8))


def _box(d: ImageDraw.ImageDraw, xy, title: str, lines: list[str], fill: str) -> None:
    d.rounded_rectangle(xy, radius=12, fill=fill, outline="#333", width=2)
    x0, y0 = xy[0] + 12, xy[1] + 10
    d.text((x0, y0), title, fill="#000", font=_font(20))
    for i, line in enumerate(lines):
        d.text((x0, y0 + 30 + 22 * i), line, fill="#222", font=_font(16))


def _arrow(d: ImageDraw.ImageDraw, a, b, label: str = "") -> None:
    d.line([a, b], fill="#444", width=3)
    v = np.subtract(b, a).astype(float)
    v /= np.linalg.norm(v) + 1e-9
    n = np.array([-v[1], v[0]])
    tip = np.array(b, float)
    d.polygon([tuple(tip), tuple(tip - 14 * v + 7 * n), tuple(tip - 14 * v - 7 * n)], fill="#444")
    if label:
        mid = (np.add(a, b) / 2).astype(int)
        d.text((mid[0] + 6, mid[1] - 20), label, fill="#444", font=_font(15))


def main() -> None:
    photo = read_image(DATA / "example.jpg").rgb
    hole = read_mask(DATA / "example_mask.png", size=(photo.shape[1], photo.shape[0]))
    h, w = hole.shape
    f = 512 / max(h, w)
    size = (round(w * f), round(h * f))
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    shown = photo.copy()
    shown[hole] = (1.0, 0.0, 1.0)
    masked_small = small * ~small_hole[..., None]
    up = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    residual = np.clip(0.5 + 4.0 * (photo - up).mean(axis=2, keepdims=True), 0, 1)
    residual = np.repeat(residual, 3, axis=2)
    residual[hole] = (1.0, 0.0, 1.0)

    canvas = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(canvas)
    d.text((20, 14), "CRA on LaMa: the network runs once at the working size; the full-resolution "
           "detail comes from the photo itself", fill="#000", font=_font(22))
    panels = [(_thumb(shown), (20, 70), f"full resolution ({w}x{h}), hole"),
              (_thumb(masked_small), (20, 360), f"working copy {size[0]}x{size[1]}, hole zeroed"),
              (_thumb(residual), (1210, 70), "residual = full - up(down(full))")]
    for img, (x, y), caption in panels:
        canvas.paste(img, (x, y + 26))
        d.text((x, y), caption, fill="#000", font=_font(16))
    _box(d, (340, 330, 700, 600), "LaMa (Big-LaMa, FFC-ResNet)", [
        "input: RGB x (1 - mask) ++ mask (4 ch)",
        "pad to a multiple of 8 (mirror)",
        "3 downsamplings -> 1/8",
        "18 FFC blocks: local 3x3 convs +",
        "  global 1x1 conv on the real FFT",
        "3 transposed convs -> sigmoid RGB",
        "tap: decoder after the 1st up-conv",
        "  (256 ch at 1/4 = one per 4x4 cell)",
    ], "#dbeafe")
    _box(d, (760, 330, 1140, 600), "attention (photomend.ops.cra)", [
        "grid of 4x4-px cells of the working size",
        "hole cells x known cells, cosine,",
        "top-1 match per hole cell",
        "features, either",
        "  'result': the filled 512 image's pixels",
        "  'decoder': LaMa's decoder features",
        "only rows of hole cells are computed",
    ], "#fef3c7")
    _box(d, (760, 70, 1140, 290), "residual aggregation", [
        "hole cell residual = matched known",
        "  cell's residual (one BLAS product)",
        "output = up(LaMa fill) + residual",
        "  inside the hole, original outside,",
        "  feathered seam",
    ], "#dcfce7")
    _arrow(d, (150, 300), (150, 355), "resize")
    _arrow(d, (285, 500), (340, 500))
    _arrow(d, (700, 420), (760, 420), "decoder")
    _arrow(d, (700, 560), (760, 560), "fill")
    _arrow(d, (520, 330), (760, 255), "fill, upsampled")
    _arrow(d, (950, 330), (950, 290), "matches")
    _arrow(d, (1210, 180), (1140, 180))
    _arrow(d, (285, 180), (760, 180), "original pixels outside the hole")
    OUT.parent.mkdir(exist_ok=True)
    canvas.save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
