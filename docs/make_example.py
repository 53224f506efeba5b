"""Regenerate the bundled example and the README's before/after picture.

Writes
  src/photomend/data/example.jpg       the photo (800x425 JPEG, quality 92)
  src/photomend/data/example_mask.png  the mask (white = remove), drawn with OpenCV
  docs/example_before_after.jpg        what ``photomend example`` produces from them

The photo is scikit-image's ``rocket`` (``skimage.data.rocket()``): SpaceX's launch photo of
DSCOVR on a Falcon 9, released into the public domain by SpaceX (see
src/photomend/data/README.md). We keep its upper 340 of 427 rows (sky, rocket and towers; the
lit horizon is left out) and resize it to 800 px wide with Lanczos. The mask covers the
lightning-protection tower left of the rocket.

Usage (from the repository root; scikit-image comes with the test extra)::

    pip install -e ".[test]"
    python docs/make_example.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "src" / "photomend" / "data"
DOCS = ROOT / "docs"

#: Rows of skimage's 640x427 rocket photo that are kept, and the width they are resized to.
KEEP_ROWS = 340
WIDTH = 800
JPEG_QUALITY = 92
#: Outline of the tower left of the rocket, in pixels of the 800-px photo (x, y), clockwise
#: from the tip of its lightning rod; the tower runs off the bottom edge.
TOWER = [(244, 150), (256, 150), (256, 235), (262, 240), (266, 430), (210, 430), (222, 240),
         (240, 235)]
#: The outline is grown by this many pixels so the tower's soft, anti-aliased edge goes too.
GROW = 6


def make_photo() -> np.ndarray:
    """uint8 HxWx3: the top of skimage's rocket photo, 800 px wide."""
    from skimage import data  # only this script needs scikit-image

    rocket = data.rocket()[:KEEP_ROWS]
    h, w = rocket.shape[:2]
    size = (WIDTH, round(h * WIDTH / w))
    return np.asarray(Image.fromarray(rocket).resize(size, Image.Resampling.LANCZOS))


def make_mask(shape: tuple[int, int]) -> np.ndarray:
    """uint8 HxW, 255 over the tower, 0 elsewhere."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.array(TOWER, np.int32)], 255, lineType=cv2.LINE_8)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * GROW + 1, 2 * GROW + 1))
    return cv2.dilate(mask, disk)


def main() -> None:
    from photomend.cli import main as photomend

    photo = make_photo()
    DATA.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo).save(DATA / "example.jpg", quality=JPEG_QUALITY, optimize=True)
    Image.fromarray(make_mask(photo.shape[:2]), "L").save(DATA / "example_mask.png", optimize=True)
    with tempfile.TemporaryDirectory() as tmp:
        if photomend(["example", "-o", tmp, "--quiet"]) != 0:
            raise SystemExit("photomend example failed")
        sheet = Path(tmp, "example_before_after.jpg").read_bytes()
    picture = DOCS / "example_before_after.jpg"
    picture.write_bytes(sheet)
    for path in (DATA / "example.jpg", DATA / "example_mask.png", picture):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1000:.0f} KB)")


if __name__ == "__main__":
    main()
