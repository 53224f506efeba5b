"""photomend.restoration.detect_tidelines: stains on colour scans found by their tide line
(known answers: a drawn water stain on a colour picture is found, and restore fills it; clean
colour pictures give nothing)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_detect_stains import _photo, _stained
from test_restore import _clean

import photomend
from photomend.metrics import tolerant_counts
from photomend.restoration.detect_stains import stains, to_stain_side, toned
from photomend.restoration.detect_tidelines import (
    FEATURES,
    SIDE,
    candidates,
    line_map,
    load_model,
    measure,
    tideline_stains,
)


@pytest.fixture(autouse=True)
def _models_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))


def _grainy(rgb: np.ndarray, sigma: float = 0.01) -> np.ndarray:
    """``rgb`` with film grain, as every scan has (on a perfectly smooth picture the line
    filter, relative to the scan's median, draws every edge several pixels wide)."""
    grain = np.random.default_rng(1).normal(0, sigma, rgb.shape[:2]).astype(np.float32)
    return np.clip(rgb + grain[:, :, None], 0, 1)


@pytest.mark.parametrize("centre, radius", [((420, 300), 30.0), ((200, 250), 26.0)])
def test_a_stain_on_a_colour_scan_is_found_by_its_tide_line(centre, radius):
    scan, truth = _stained(_grainy(_photo()), centre, radius)
    assert not toned(scan)  # a colour scan: the stain network is not asked
    found = tideline_stains(scan)
    # with the benchmark's 2-px tolerance: the whole stain, and nothing else
    tp, n_pred, hit, n_true = tolerant_counts(found, truth)
    assert hit / n_true > 0.9 and tp / n_pred > 0.95
    assert np.array_equal(stains(scan), found)  # what the learned detector adds


def test_restore_fills_a_stain_on_a_colour_scan():
    clean = _grainy(_photo())
    scan, truth = _stained(clean, (420, 300), 30.0)
    out, mask = photomend.restore(scan, detector="learned")
    assert mask[truth].mean() > 0.9

    def err(img):
        return float(np.sqrt(np.mean((img[truth] - clean[truth]) ** 2)))

    assert err(out) < 0.5 * err(scan)


@pytest.mark.parametrize("picture", ["photo", "ripples", "gradient"])
def test_clean_colour_pictures_have_no_stains(picture):
    if picture == "photo":
        img = _photo()
    elif picture == "ripples":
        img = _clean()
    else:
        x = np.linspace(0, 1, 640, dtype=np.float32)[None, :, None]
        img = np.broadcast_to(np.concatenate([x, 1 - x, 0.5 + 0 * x], 2), (480, 640, 3)).copy()
    assert not tideline_stains(img).any()


def test_candidates_are_the_holes_closed_lines_enclose():
    img = np.full((SIDE, SIDE, 3), 0.6, np.float32)
    img += np.random.default_rng(0).normal(0, 0.01, img.shape).astype(np.float32)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    ring = np.abs(np.hypot(xx - 200, yy - 260) - 30) < 1.5       # a closed dark line
    img[ring] = 0.3
    small = to_stain_side(img, SIDE)
    lines = line_map(small)
    found = [c for c in candidates(lines) if c[0][c[0].shape[0] // 2, c[0].shape[1] // 2]]
    assert len(found) >= 1
    hole, (x, y, w, h) = found[0]
    assert abs(x + w / 2 - 200) < 3 and abs(y + h / 2 - 260) < 3 and 40 < w < 60
    f = measure(small, lines, found[0])
    assert f is not None and f.shape == (len(FEATURES),) and np.isfinite(f).all()


def test_a_model_for_other_features_is_refused(tmp_path):
    model = json.loads(json.dumps(load_model()))
    model["features"] = list(FEATURES[:-1])
    path = tmp_path / "old.json"
    path.write_text(json.dumps(model))
    with pytest.raises(ValueError, match="other features"):
        load_model(str(path))
