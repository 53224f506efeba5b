"""Tests of photomend.remove (the public verb): same kind out as in, alpha untouched, errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

import photomend
from photomend import remove
from photomend.errors import ImageTooLargeError, MaskError, UnknownEngineError

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
MAGENTA = np.array([255, 0, 255], np.uint8)


@pytest.fixture
def marked(photo, hole):
    """The photo with a magenta object where the hole is: removal must get rid of it."""
    img = photo.copy()
    img[hole] = MAGENTA
    return img


def _assert_removed(out: np.ndarray, before: np.ndarray, hole: np.ndarray) -> None:
    np.testing.assert_array_equal(out[~hole], before[~hole])
    filled = out[hole][..., :3].astype(float)
    assert np.abs(filled - MAGENTA).sum(axis=1).min() > 100  # no magenta left anywhere


def test_uint8_rgb_array(marked, hole):
    before, mask_before = marked.copy(), hole.copy()
    out = remove(marked, hole, engine="telea")
    assert out.dtype == np.uint8 and out.shape == marked.shape
    _assert_removed(out, marked, hole)
    np.testing.assert_array_equal(marked, before)  # caller's arrays untouched
    np.testing.assert_array_equal(hole, mask_before)


def test_rgba_alpha_passes_through_bit_for_bit(marked, hole):
    alpha = np.random.default_rng(3).integers(0, 256, hole.shape, dtype=np.uint8)
    out = remove(np.dstack([marked, alpha]), hole, engine="telea")
    assert out.shape == (48, 64, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 3], alpha)
    _assert_removed(out[..., :3], marked, hole)


@pytest.mark.parametrize("dtype", [np.uint16, np.float64, np.float32])
def test_other_dtypes(marked, hole, dtype):
    if dtype == np.uint16:
        img = marked.astype(np.uint16) * 257
        expected_dtype = np.uint16
    else:
        img = (marked / 255.0).astype(dtype)
        expected_dtype = np.float32
    out = remove(img, hole, engine="telea")
    assert out.dtype == expected_dtype and out.shape == img.shape
    np.testing.assert_allclose(out[~hole], img[~hole], rtol=0, atol=1e-6)
    assert not np.allclose(out[hole], img[hole])


def test_float_rgba_alpha_kept(marked, hole):
    alpha = np.linspace(0, 1, hole.size, dtype=np.float32).reshape(hole.shape)
    out = remove(np.dstack([marked / 255.0, alpha]).astype(np.float32), hole, engine="telea")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 3], alpha)


def test_gray_array_stays_gray(hole):
    gray = np.tile(np.arange(64, dtype=np.uint8) * 3, (48, 1))
    gray[hole] = 255
    out = remove(gray, hole, engine="telea")
    assert out.shape == (48, 64) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~hole], gray[~hole])
    assert out[hole].max() < 255


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
def test_pil_in_pil_out_same_mode(marked, hole, mode):
    im = Image.fromarray(marked).convert(mode)
    if "A" in mode:
        im.putalpha(Image.fromarray((hole * 200 + 20).astype(np.uint8)))
    im.info["icc_profile"] = SRGB if mode.startswith("RGB") else None
    out = remove(im, Image.fromarray(hole), engine="telea")
    assert isinstance(out, Image.Image) and out.mode == mode and out.size == (64, 48)
    if "A" in mode:
        np.testing.assert_array_equal(np.asarray(out.getchannel("A")),
                                      np.asarray(im.getchannel("A")))
    if mode.startswith("RGB"):
        assert out.info["icc_profile"] == SRGB
        _assert_removed(np.asarray(out.convert("RGB")), marked, hole)


def test_path_and_bytes_in_give_pil_with_metadata(tmp_path, marked, hole):
    exif = Image.Exif()
    exif[0x010F] = "PhotomendTestCam"
    path = tmp_path / "in.png"
    Image.fromarray(marked).save(path, icc_profile=SRGB, exif=exif.tobytes())
    mask_path = tmp_path / "mask.png"
    Image.fromarray(hole).save(mask_path)
    for image, mask in [(path, mask_path), (str(path), str(mask_path)),
                        (path.read_bytes(), mask_path.read_bytes())]:
        out = remove(image, mask, engine="telea")
        assert isinstance(out, Image.Image) and out.mode == "RGB"
        assert out.info["icc_profile"] == SRGB
        assert b"PhotomendTestCam" in out.info["exif"]
        _assert_removed(np.asarray(out), marked, hole)
    buf = io.BytesIO()
    out.save(buf, "PNG", icc_profile=out.info["icc_profile"])  # a usable PIL image


def test_empty_mask_returns_unchanged_with_warning(marked):
    empty = np.zeros(marked.shape[:2], bool)
    with pytest.warns(UserWarning, match="mask is empty: nothing to remove"):
        out = remove(marked, empty, engine="telea")
    np.testing.assert_array_equal(out, marked)
    assert out is not marked


def test_all_hole_mask_is_clear_error(marked):
    with pytest.raises(MaskError, match="whole image"):
        remove(marked, np.ones(marked.shape[:2], bool), engine="telea")


def test_mask_of_another_size(marked, hole):
    small = hole[::2, ::2]
    with pytest.raises(MaskError, match="mask is 32x24 but the image is 64x48"):
        remove(marked, small, engine="telea")
    out = remove(marked, small, engine="telea", resize_mask=True)
    _assert_removed(out, marked, hole)


def test_unknown_engine_fails_before_reading(tmp_path):
    with pytest.raises(UnknownEngineError, match="'nope'.*telea"):
        remove(tmp_path / "missing.png", tmp_path / "missing.png", engine="nope")


def test_pixel_limit(marked, hole):
    with pytest.raises(ImageTooLargeError, match="64x48"):
        remove(marked, hole, engine="telea", max_pixels=100)


def test_public_exports():
    for name in ("remove", "read_image", "read_mask", "write_image", "LoadedImage",
                 "remove_array", "MaskError"):
        assert name in photomend.__all__ and hasattr(photomend, name)


def test_colorizing_verbs_return_colour_for_gray_input():
    """restore(colorize=...) and colorize() turn a gray array into RGB; remove keeps it gray."""
    import photomend

    gray = (np.random.default_rng(0).random((80, 90)) * 255).astype(np.uint8)
    hints = np.zeros((80, 90, 4), np.uint8)
    hints[10:14, 10:14] = (255, 0, 0, 255)
    assert photomend.colorize(gray, hints=hints).shape == (80, 90, 3)
    with pytest.warns(UserWarning, match="no defects"):  # random noise has no scratches
        restored = photomend.restore(gray, detector="classical",
                                     colorize={"method": "hints", "hints": hints})
    assert restored.image.shape == (80, 90, 3) and restored.image.dtype == np.uint8
    hole = np.zeros((80, 90), bool)
    hole[30:40, 30:40] = True
    assert photomend.remove(gray, hole, engine="telea").shape == (80, 90)
