"""The OpenCV engines (telea, ns): the same fill as cv2.inpaint on the whole photo."""

import cv2
import numpy as np
import pytest

from photomend.engines import create_engine
from photomend.engines.opencv import diffusion_fill


def _whole_photo(image, mask, flag, radius):
    """The fill as it was computed before the bounding-box crop: cv2.inpaint on everything."""
    u8 = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    filled = cv2.inpaint(u8, mask.astype(np.uint8), radius, flag)
    out = image.copy()
    out[mask] = filled[mask].astype(np.float32) / 255.0
    return out


@pytest.mark.parametrize("flag", [cv2.INPAINT_TELEA, cv2.INPAINT_NS])
@pytest.mark.parametrize("where", ["inside", "corner", "edge", "two"])
def test_crop_gives_the_whole_photo_result(flag, where):
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.random((120, 160, 3), dtype=np.float32), (0, 0), 3)
    mask = np.zeros((120, 160), bool)
    if where == "inside":
        mask[40:70, 60:90] = True
    elif where == "corner":
        mask[:15, :20] = True
    elif where == "edge":
        mask[50:60, 150:] = True
    else:
        mask[10:20, 10:30] = True
        mask[90:110, 120:150] = True
    np.testing.assert_array_equal(diffusion_fill(img, mask, flag, 5),
                                  _whole_photo(img, mask, flag, 5))


@pytest.mark.parametrize("name", ["telea", "ns"])
def test_engine_keeps_outside_pixels_and_the_callers_array(name):
    rng = np.random.default_rng(2)
    img = rng.random((64, 80, 3), dtype=np.float32)
    before = img.copy()
    mask = np.zeros((64, 80), bool)
    mask[20:40, 30:50] = True
    out = create_engine(name).inpaint(img, mask)
    np.testing.assert_array_equal(img, before)
    np.testing.assert_array_equal(out[~mask], img[~mask])
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert not np.array_equal(out[mask], img[mask])
