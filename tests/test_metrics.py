"""Known-answer tests of photomend.metrics, and agreement with scikit-image's SSIM."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from photomend.metrics import detail_ratio, masked_psnr, masked_ssim, ssim_map

skimage_metrics = pytest.importorskip("skimage.metrics")
skimage_data = pytest.importorskip("skimage.data")

LAYOUTS = ["rgb", "grey"]
DTYPES = [np.float32, np.float64]


def _photo(layout: str, dtype: type) -> np.ndarray:
    rgb = skimage_data.astronaut()[::2, ::2] / 255.0  # 256x256, real texture and flat parts
    img = rgb if layout == "rgb" else rgb @ np.array([0.299, 0.587, 0.114])
    return img.astype(dtype)


def _hole(shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    mask[96:160, 80:176] = True
    return mask


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_images_are_perfect(layout, dtype):
    img = _photo(layout, dtype)
    hole = _hole(img.shape)
    assert masked_psnr(img, img, hole) == math.inf
    assert masked_ssim(img, img, hole) == 1.0
    assert detail_ratio(img, img, hole) == 1.0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_constant_offset_gives_exact_psnr(layout):
    truth = _photo(layout, np.float64) * 0.5
    result = truth + 0.05  # everywhere: every pixel of the dilated hole is off by 0.05
    expected = 20 * math.log10(1 / 0.05)  # 26.0206 dB
    assert masked_psnr(result, truth, _hole(truth.shape)) == pytest.approx(expected, abs=1e-9)


def test_psnr_averages_over_the_dilated_hole():
    truth = np.zeros((64, 64, 3))
    hole = np.zeros((64, 64), bool)
    hole[32, 32] = True
    result = truth.copy()
    result[hole] = 0.1  # one wrong pixel, diluted by the dilated ring of correct ones
    n_region = int(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17)).sum())
    expected = -10 * math.log10(0.01 / n_region)
    assert masked_psnr(result, truth, hole, dilate=8) == pytest.approx(expected, abs=1e-9)
    assert masked_psnr(result, truth, hole, dilate=0) == pytest.approx(20.0, abs=1e-9)


def test_errors_outside_the_dilated_hole_do_not_count():
    truth = _photo("rgb", np.float64)
    hole = _hole(truth.shape)
    result = truth.copy()
    result[:40] = 1 - result[:40]  # far from the hole
    assert masked_psnr(result, truth, hole) == math.inf
    assert masked_ssim(result, truth, hole) == 1.0


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ssim_agrees_with_skimage_on_an_unmasked_image(layout, dtype):
    truth = _photo(layout, dtype)
    noise = np.random.default_rng(1).normal(0, 0.05, truth.shape)
    result = np.clip(truth + noise, 0, 1).astype(dtype)
    axis = -1 if layout == "rgb" else None
    kwargs = dict(data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    expected, full_map = skimage_metrics.structural_similarity(
        result, truth, channel_axis=axis, full=True, **kwargs
    )
    everything = np.ones(truth.shape[:2], bool)
    assert masked_ssim(result, truth, everything) == pytest.approx(expected, abs=1e-3)
    if layout == "rgb":
        full_map = full_map.mean(axis=-1)
    np.testing.assert_allclose(ssim_map(result, truth), full_map, atol=1e-3)


def test_ssim_drops_for_a_bad_fill_and_ignores_the_rest():
    truth = _photo("rgb", np.float64)
    hole = _hole(truth.shape)
    result = truth.copy()
    result[hole] = truth[hole].mean(axis=0)  # a flat fill
    local = masked_ssim(result, truth, hole)
    whole = masked_ssim(result, truth, np.ones_like(hole))
    assert local < whole < 1.0
    assert local < 0.6


@pytest.mark.parametrize("layout", LAYOUTS)
def test_blurred_and_diffusion_fills_lose_detail(layout):
    truth = _photo(layout, np.float32)
    hole = _hole(truth.shape)
    blurred = truth.copy()
    blurred[hole] = cv2.GaussianBlur(truth, (0, 0), 3)[hole]
    assert detail_ratio(blurred, truth, hole) < 0.5
    if layout == "rgb":
        u8 = (truth * 255 + 0.5).astype(np.uint8)
        telea = cv2.inpaint(u8, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA) / 255.0
        assert detail_ratio(telea, truth, hole) < 0.5


def test_a_fill_with_the_same_texture_keeps_its_detail():
    rng = np.random.default_rng(0)
    truth = cv2.GaussianBlur(rng.random((128, 128)), (0, 0), 1.0)
    other = cv2.GaussianBlur(rng.random((128, 128)), (0, 0), 1.0)
    hole = np.zeros((128, 128), bool)
    hole[32:96, 32:96] = True
    result = truth.copy()
    result[hole] = other[hole]
    assert 0.85 < detail_ratio(result, truth, hole) < 1.15
    noisy = np.clip(result + rng.normal(0, 0.1, result.shape) * hole, 0, 1)
    assert detail_ratio(noisy, truth, hole) > 1.4


def test_detail_ratio_of_flat_truth():
    truth = np.full((32, 32), 0.5)
    hole = np.zeros((32, 32), bool)
    hole[8:24, 8:24] = True
    assert detail_ratio(truth, truth, hole) == 1.0
    bumpy = truth.copy()
    bumpy[16, 16] = 0.6
    assert detail_ratio(bumpy, truth, hole) == math.inf


def test_inputs_are_not_modified():
    truth = _photo("rgb", np.float32)
    result = np.clip(truth + 0.1, 0, 1)
    hole = _hole(truth.shape)
    copies = [a.copy() for a in (result, truth, hole)]
    for fn in (masked_psnr, masked_ssim, detail_ratio):
        fn(result, truth, hole)
    for before, after in zip(copies, (result, truth, hole)):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("fn", [masked_psnr, masked_ssim, detail_ratio])
def test_invalid_input(fn):
    img = np.zeros((32, 32, 3))
    hole = np.zeros((32, 32), bool)
    hole[8:24, 8:24] = True
    with pytest.raises(ValueError, match="float image"):
        fn(np.zeros((32, 32, 3), np.uint8), img, hole)
    with pytest.raises(ValueError, match="differ in shape"):
        fn(img[:16], img, hole)
    with pytest.raises(ValueError, match="does not match the image size"):
        fn(img, img, hole[:16])
    with pytest.raises(ValueError, match="must be bool"):
        fn(img, img, hole.astype(np.uint8))
    with pytest.raises(ValueError, match="empty"):
        fn(img, img, np.zeros_like(hole))
    with pytest.raises(ValueError, match="HxW or HxWxC"):
        fn(img[None], img[None], hole)


def test_invalid_radii_and_sizes():
    img = np.zeros((32, 32, 3))
    thin = np.zeros((32, 32), bool)
    thin[16, 4:28] = True
    with pytest.raises(ValueError, match="dilate must be >= 0"):
        masked_psnr(img, img, thin, dilate=-1)
    with pytest.raises(ValueError, match="erode must be >= 0"):
        detail_ratio(img, img, thin, erode=-1)
    with pytest.raises(ValueError, match="no pixels left"):
        detail_ratio(img, img, thin, erode=2)
    with pytest.raises(ValueError, match="at least 11x11"):
        masked_ssim(np.zeros((8, 8)), np.zeros((8, 8)), np.ones((8, 8), bool))


def test_tolerant_counts_forgive_two_pixels_and_pool_over_images():
    from photomend.metrics import tolerant_counts

    truth = np.zeros((20, 20), bool)
    truth[10, 2:18] = True  # a one-pixel scratch, 16 px long
    beside = np.roll(truth, 2, axis=0)  # found 2 px off its drawn position
    far = np.roll(truth, 3, axis=0)
    np.testing.assert_array_equal(tolerant_counts(beside, truth), [16, 16, 16, 16])
    np.testing.assert_array_equal(tolerant_counts(far, truth), [0, 16, 0, 16])
    np.testing.assert_array_equal(tolerant_counts(far, truth, tol=3), [16, 16, 16, 16])
    pooled = tolerant_counts(beside, truth) + tolerant_counts(far, truth)
    assert pooled[0] / pooled[1] == 0.5 and pooled[2] / pooled[3] == 0.5


def test_pooled_scores_from_tolerant_counts():
    from photomend.metrics import pooled_scores

    p, r, f1 = pooled_scores(np.array([3, 4, 2, 8]))
    assert (p, r) == (0.75, 0.25) and abs(f1 - 0.375) < 1e-12
    assert pooled_scores(np.array([0, 0, 0, 5])) == (0.0, 0.0, 0.0)  # nothing found
