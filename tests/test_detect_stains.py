"""photomend.restoration.detect_stains: the stain network of the learned detector (known answers:
a drawn water stain is found; clean brown areas and gradients are not)."""

from __future__ import annotations

import numpy as np
import pytest

import photomend
from photomend.restoration.detect import add_stains
from photomend.restoration.detect_stains import (
    TONED_SPREAD,
    cross_hue_spread,
    stain_probability,
    stain_side,
    stain_threshold,
    stains,
    stains_from,
    to_stain_side,
    weights_path,
)


@pytest.fixture(autouse=True)
def _models_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))


def _photo(h: int = 384, w: int = 512) -> np.ndarray:
    """A soft colour picture: gradients, broad blobs and a gentle texture."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([0.30 + 0.35 * xx / w, 0.45 + 0.2 * np.sin(yy / 40.0),
                    0.55 - 0.25 * yy / h + 0.08 * np.cos(xx / 17.0)], axis=2)
    rgb += 0.15 * np.exp(-((xx - 0.3 * w) ** 2 + (yy - 0.6 * h) ** 2) / (2 * 45.0**2))[:, :, None]
    return np.clip(rgb, 0, 1).astype(np.float32)


def _stained(clean: np.ndarray, centre=(300, 180), radius: float = 24.0):
    """``clean`` with a water stain drawn like ``photomend.restoration.degrade`` draws one (a
    wobbly disc tinted 45 % toward brown, with a darker tide line at its edge), and its mask."""
    h, w = clean.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = np.arctan2(yy - centre[1], xx - centre[0])
    r = radius * (1 + 0.1 * np.cos(3 * ang + 1.0) + 0.06 * np.cos(5 * ang + 2.0))
    dist = np.hypot(xx - centre[0], yy - centre[1]) / r
    rim = np.clip(1 - np.abs(dist - 0.97) / (2.5 / radius + 0.03), 0, 1)
    a = np.clip(np.where(dist <= 1, 0.45, 0.0) + 0.4 * rim, 0, 0.9)[:, :, None]
    brown = np.array([0.55, 0.42, 0.25], np.float32) * 0.9
    scan = (clean * (1 - a) + brown * a).astype(np.float32)
    return scan, a[:, :, 0] >= 0.3


def _gray(rgb: np.ndarray) -> np.ndarray:
    y = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat(y[:, :, None], 3, axis=2).astype(np.float32)


@pytest.mark.parametrize("centre, radius", [((300, 180), 22.0), ((120, 100), 14.0),
                                            ((420, 300), 30.0)])
def test_a_drawn_stain_on_a_gray_scan_is_found(centre, radius):
    # a monochrome print (the stain network finds few stains on colour and sepia scans yet:
    # docs/restore.md, Limitations)
    clean = _gray(_photo())
    scan, truth = _stained(clean, centre, radius)
    found = stains(scan)
    assert found[truth].mean() > 0.9
    assert found[~truth].mean() < 0.005


def test_a_drawn_stain_is_found_and_filled_by_the_learned_detector():
    clean = _gray(_photo())
    scan, truth = _stained(clean)
    assert not stains(clean).any()
    assert stains(_photo()).mean() < 0.01
    # the learned detector adds it to the U-Net's score, and restore fills it
    out, mask = photomend.restore(scan, detector="learned")
    assert mask[truth].mean() > 0.9
    def err(img):
        return float(np.sqrt(np.mean((img[truth] - clean[truth]) ** 2)))

    assert err(out) < 0.6 * err(scan)
    # the classical detector stays the pure baseline (top-hats and line filters): no stains
    with pytest.warns(UserWarning, match="no defects found"):
        _, classical = photomend.restore(scan, detector="classical")
    assert not classical.any()


@pytest.mark.parametrize("size", [(96, 128), (384, 512), (1024, 768)])
def test_clean_brown_areas_are_not_stains(size):
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    brown = np.array([0.55, 0.42, 0.25], np.float32)
    uniform = np.broadcast_to(brown, (h, w, 3)).astype(np.float32)
    gradient = np.clip(brown * (0.6 + 0.6 * xx / w)[:, :, None] + 0.1 * (yy / h)[:, :, None],
                       0, 1).astype(np.float32)
    sepia_blob = np.clip(uniform * (1 + 0.4 * np.exp(-((xx - w / 2) ** 2 + (yy - h / 2) ** 2)
                                                     / (2 * (w / 6) ** 2)))[:, :, None], 0, 1)
    for img in (uniform, gradient, sepia_blob.astype(np.float32)):
        assert stains(img).mean() < 0.002


def test_probability_map_and_metadata():
    assert weights_path().stat().st_size < 1_000_000
    assert 0 < stain_threshold() < 1 and stain_side() >= 128
    img = _gray(_photo(200, 300))
    p = stain_probability(img)
    assert p.shape == (200, 300) and p.dtype == np.float32 and 0 <= p.min() <= p.max() <= 1
    assert max(to_stain_side(img, 256).shape[:2]) == 256
    score = np.zeros((200, 300), np.float32)
    assert add_stains(score, img) is score  # nothing found: the score comes back as it was


def test_regions_whose_colour_hardly_changes_are_dropped():
    from photomend.restoration.detect_stains import tinted

    img = np.full((64, 64, 3), 0.5, np.float32)
    img[20:40, 20:40, 2] = 0.48  # a faint colour ripple, no stain
    m = np.zeros((64, 64), bool)
    m[20:40, 20:40] = True
    assert not tinted(img, m).any()
    img[20:40, 20:40] = (0.45, 0.38, 0.28)  # gray blended 40 % toward brown: kept
    assert (tinted(img, m) == m).all()
    assert tinted(img, np.zeros_like(m)).sum() == 0


def test_an_outlined_region_is_kept_without_a_colour_change():
    # a stain on a scan of its own colour: the mean hardly changes, the tide line is an edge
    from photomend.restoration.detect_stains import MIN_CHANGE, tinted

    img = np.full((64, 64, 3), 0.5, np.float32)
    m = np.zeros((64, 64), bool)
    m[20:40, 20:40] = True
    img[20:40, 20:40] = 0.5 - 0.02
    img[22:38, 22:38] = 0.5                     # inside: the surroundings' colour ...
    img[20:40, 20] = img[20:40, 39] = img[20, 20:40] = img[39, 20:40] = 0.44  # ... a dark rim
    change = np.linalg.norm(img[m].mean(0) - img[~m].mean(0))
    assert change < MIN_CHANGE
    assert (tinted(img, m) == m).all()


def test_the_dips_of_a_smooth_colour_ripple_are_not_stains():
    # the tests' generated picture (test_restore._clean): the network alone answers to where
    # its blue ripple dips; no colour change and no edge there, so nothing is flagged
    h, w = 192, 256
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([0.35 + 0.3 * xx / w, 0.3 + 0.25 * yy / h,
                    0.45 + 0.12 * np.sin(xx / 23.0) * np.cos(yy / 31.0)], axis=2)
    rgb += 0.12 * np.exp(-((xx - 0.6 * w) ** 2 + (yy - 0.4 * h) ** 2) / (2 * 30.0**2))[:, :, None]
    for scale in (1, 4):
        img = np.clip(np.kron(rgb, np.ones((scale, scale, 1))), 0, 1).astype(np.float32)
        assert stains(img).mean() < 0.002


def test_kept_regions_grow_into_the_less_sure_pixels_around_them():
    from photomend.restoration.detect_stains import GROW, grow

    p = np.zeros((20, 40), np.float32)
    p[5:15, 5:15] = 0.9          # a sure stain ...
    p[5:15, 15:20] = GROW + 0.1  # ... and its less sure edge: taken in
    p[5:15, 30:35] = GROW + 0.1  # unsure, apart: left out
    seeds = p > 0.55
    out = grow(p, seeds)
    assert out[5:15, 5:20].all() and not out[:, 25:].any() and out.sum() == 150
    assert not grow(p, np.zeros_like(seeds)).any()


def test_the_stain_network_is_asked_only_on_toned_scans():
    # the network finds stains on monochrome and toned scans, and on colour photos answers to
    # brown objects (hair, wood) instead: there it is not asked, the tide-line step looks
    # (photomend.restoration.detect_tidelines). Toned is one hue at any brightness, however
    # saturated; a faded colour photo is still colour.
    from photomend.restoration.detect_tidelines import tideline_stains

    gray, truth = _stained(_gray(_photo()))
    sepia = np.clip(gray * np.array([1.6, 0.9, 0.3], np.float32), 0, 1)  # strongly toned
    faded, _ = _stained(0.5 + 0.25 * (_photo() - 0.5))                    # pale colour
    assert cross_hue_spread(gray) < TONED_SPREAD and cross_hue_spread(sepia) < TONED_SPREAD
    assert cross_hue_spread(faded) > TONED_SPREAD
    sure = truth.astype(np.float32)  # as if the network were certain of the stain
    assert stains_from(gray, sure, 0.5)[truth].mean() > 0.9
    assert stains_from(sepia, sure, 0.5)[truth].mean() > 0.9
    nothing = np.zeros_like(sure)    # on a colour scan the network's map is not used
    assert np.array_equal(stains_from(faded, sure, 0.5), stains_from(faded, nothing, 0.5))
    assert np.array_equal(stains(faded), tideline_stains(faded))
