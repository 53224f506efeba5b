"""Draw the documentation figures: docs/masks.png, one benchmark mask of each kind over a photo.

    python benchmarks/make_figures.py

Uses only scikit-image's bundled photos (no download). The PNG is quantised to a 256-colour
palette to stay well under 500 KB.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from masks import MASK_KINDS, make_mask  # noqa: E402
from photos import load_photo  # noqa: E402
from sheets import comparison_sheet  # noqa: E402

DOCS = HERE.parent / "docs"
#: (mask kind, photo, seed) per panel.
EXAMPLES = (("strokes", "skimage:coffee", 1), ("boxes", "skimage:rocket", 0), ("blobs", "skimage:chelsea", 2))
PANEL_WIDTH = 400


def masks_figure() -> np.ndarray:
    """A uint8 RGB row of panels: each photo with one mask of its kind overlaid, labelled."""
    assert [kind for kind, _, _ in EXAMPLES] == list(MASK_KINDS)
    panels = []
    for kind, photo, seed in EXAMPLES:
        img = load_photo(photo)
        mask = make_mask(kind, img.shape[:2], seed)
        label = f"{kind}: {100 * mask.mean():.0f} % of the photo"
        panels.append(comparison_sheet(img, mask, {}, panel_width=PANEL_WIDTH, title=label))
    height = max(p.shape[0] for p in panels)  # the photos differ in height: pad with white
    gap = np.full((height, 6, 3), 255, np.uint8)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0)), constant_values=255) for p in panels]
    row = [padded[0]]
    for p in padded[1:]:
        row += [gap, p]
    return np.hstack(row)


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    path = DOCS / "masks.png"
    Image.fromarray(masks_figure()).quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
