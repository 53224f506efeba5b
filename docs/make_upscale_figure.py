"""Draw docs/upscale_crops.jpg: one held-out photo detail upscaled x4 by each model.

The crop (skimage's ``chelsea``, a held-out benchmark photo, never trained on) is downscaled x4
with antialiased bicubic, exactly as in the benchmark, then upscaled back by: nearest neighbour
(to show the input pixels), bicubic, lanczos, compact, and every installed zoo model with x4;
the original is the last panel. Usage::

    python docs/make_upscale_figure.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from photomend.upscaling import available_upscalers, upscaler_class
from photomend.upscaling.api import upscale_array

ROOT = Path(__file__).resolve().parent
SCALE = 4


def main() -> None:
    import skimage.data

    hr = skimage.data.chelsea()[60:252, 110:302]  # 192x192: the cat's eye and fur
    lr = np.asarray(Image.fromarray(hr).resize((192 // SCALE,) * 2, Image.BICUBIC))
    panels = [("input (nearest)", np.asarray(Image.fromarray(lr).resize((192, 192),
                                                                         Image.NEAREST)))]
    for name in available_upscalers():
        if SCALE in upscaler_class(name).installed_scales():
            out = upscale_array(lr.astype(np.float32) / 255, SCALE, model=name, out_dtype="uint8")
            panels.append((name, out))
    panels.append(("original", hr))
    pad, label = 6, 18
    sheet = Image.new("RGB", (len(panels) * (192 + pad) + pad, 192 + label + 2 * pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (title, img) in enumerate(panels):
        x = pad + i * (192 + pad)
        sheet.paste(Image.fromarray(img), (x, pad + label))
        draw.text((x, pad), title, fill="black")
    sheet = sheet.resize((sheet.width * 2, sheet.height * 2), Image.NEAREST)
    sheet.save(ROOT / "upscale_crops.jpg", quality=90)
    print(f"wrote {ROOT / 'upscale_crops.jpg'} ({len(panels)} panels)")


if __name__ == "__main__":
    main()
