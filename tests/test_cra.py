"""Contextual Residual Aggregation: full-resolution detail for a working-size fill."""

import cv2
import numpy as np
import pytest

from photomend.engines import create_engine
from photomend.hd import run_strategy
from photomend.ops.cra import aggregate_residual, attention, upsample_rows


def _psnr(a, b, mask):
    return 10 * np.log10(1.0 / np.mean((a[mask] - b[mask]) ** 2))


def _lap_energy(img, mask):
    lap = cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_32F)
    return float(np.mean(lap[mask] ** 2))


@pytest.fixture(scope="module")
def fine_pattern():
    """A smooth colour ramp carrying a 4-px checker: the checker vanishes at 1/4 scale."""
    y, x = np.mgrid[0:1024, 0:1024].astype(np.float32)
    ramp = np.stack([0.3 + 0.3 * x / 1024, 0.4 + 0.2 * y / 1024, 0.5 - 0.2 * x / 1024], -1)
    checker = 0.15 * (((x // 2 + y // 2) % 2) - 0.5)
    img = np.clip(ramp + checker[..., None], 0, 1).astype(np.float32)
    hole = np.zeros((1024, 1024), bool)
    hole[400:640, 380:600] = True
    return img, hole


def test_upsample_rows_equals_cv2_resize():
    small = np.random.default_rng(0).random((37, 53, 3), dtype=np.float32)
    full = cv2.resize(small, (211, 149), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(upsample_rows(small, (149, 211), 30, 90), full[30:90], atol=1e-5)
    np.testing.assert_allclose(upsample_rows(small, (149, 211), 30, 90, 17, 120),
                               full[30:90, 17:120], atol=1e-5)


def test_cra_recovers_detail_the_working_copy_lost(fine_pattern):
    img, hole = fine_pattern
    engine = create_engine("patchmatch", seed=0)
    resized = run_strategy("resize", engine, img, hole, working_size=256)
    cra = run_strategy("cra", engine, img, hole, working_size=256)
    inner = cv2.erode(hole.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    truth_energy = _lap_energy(img, inner)
    assert _lap_energy(resized, inner) < 0.05 * truth_energy  # the small copy lost the checker
    assert 0.6 < _lap_energy(cra, inner) / truth_energy < 1.4
    assert _psnr(cra, img, hole) > _psnr(resized, img, hole) + 6.0
    assert _psnr(cra, img, hole) > 25.0


def test_cra_keeps_pixels_away_from_the_hole(fine_pattern):
    img, hole = fine_pattern
    small = cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)
    out = aggregate_residual(img, hole, small, small)
    far = ~(cv2.dilate(hole.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
    np.testing.assert_array_equal(out[far], img[far])


def test_attention_rows_are_a_distribution():
    rng = np.random.default_rng(2)
    feats = rng.random((50, 12), dtype=np.float32)
    idx, w = attention(feats, np.arange(10), np.arange(10, 50), temperature=0.1, top_k=5)
    assert idx.shape == w.shape == (10, 5)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)
    assert idx.max() < 40
    # The highest-weighted known cell is the most cosine-similar one.
    f = feats - feats.mean(0)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    best = np.argmax(f[:10] @ f[10:].T, axis=1)
    np.testing.assert_array_equal(idx[np.arange(10), np.argmax(w, axis=1)], best)


def test_cra_matches_cells_on_match_image(fine_pattern):
    """``match_image`` decides which known cells a hole cell copies, not what is blown up."""
    img, hole = fine_pattern
    small = cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)
    flat = np.full_like(small, 0.5)
    # Flat features leave every cosine similarity at 0: the first known cell wins everywhere.
    a = aggregate_residual(img, hole, small, small, match_image=flat)
    b = aggregate_residual(img, hole, small, small)
    assert not np.array_equal(a[hole], b[hole])
    c = aggregate_residual(img, hole, small, small, match_image=small)
    np.testing.assert_array_equal(b, c)  # the default is the result itself


def test_cra_matches_the_detail_energy_around_the_hole():
    """Fine grain that the working copy cannot see (it averages out) is strong on the left half
    and weak on the right; a hole on the right gets the right half's grain, not the left's."""
    rng = np.random.default_rng(3)
    h, w = 512, 1024
    grain = rng.standard_normal((h, w)).astype(np.float32)
    grain[:, : w // 2] *= 0.04
    grain[:, w // 2 :] *= 0.02
    img = np.clip(0.5 + grain[..., None] * np.ones(3, np.float32), 0, 1)
    hole = np.zeros((h, w), bool)
    hole[200:320, 700:860] = True
    small = cv2.resize(img, (256, 128), interpolation=cv2.INTER_AREA)
    # Every cell looks the same at working size, so the first known cell (left, strong) wins.
    flat = np.full_like(small, 0.5)
    inner = cv2.erode(hole.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    truth = _lap_energy(img, inner)
    copied = aggregate_residual(img, hole, small, small, match_image=flat, energy_clip=None)
    matched = aggregate_residual(img, hole, small, small, match_image=flat)
    assert _lap_energy(copied, inner) > 3.0 * truth  # the strong grain, pasted as is
    assert 0.7 < _lap_energy(matched, inner) / truth < 1.4
