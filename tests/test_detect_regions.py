"""The learned detector's second look: region features, the shipped model, dropping content."""

from __future__ import annotations

import json

import numpy as np
import pytest

from photomend.restoration import detect_regions as dr


def _picture() -> np.ndarray:
    """A saturated orange picture with a neutral white scratch (damage) and a thin orange
    line a little brighter than its surroundings (content)."""
    img = np.zeros((120, 160, 3), np.float32)
    img[:] = (0.75, 0.35, 0.1)
    img[30, 10:150] = 0.95               # the scratch: neutral, on top of the photo
    img[80, 10:150] = (0.95, 0.5, 0.15)  # a line of the photo: as saturated as around it
    return img


def _found() -> np.ndarray:
    found = np.zeros((120, 160), bool)
    found[30, 10:150] = True
    found[80, 10:150] = True
    return found


def test_region_features_measure_shape_contrast_and_colour():
    img, found = _picture(), _found()
    score = np.where(found, 0.99, 0.05).astype(np.float32)
    labels, X = dr.region_features(img, score, score, score, found)
    assert labels.max() == 2 and X.shape == (2, len(dr.FEATURES))
    col = {name: X[:, i] for i, name in enumerate(dr.FEATURES)}
    scratch, line = labels[30, 50] - 1, labels[80, 50] - 1
    assert col["width"][scratch] < 1.5                      # one pixel wide
    assert col["log_elongation"][scratch] > 5               # long and thin
    assert col["contrast"][scratch] == pytest.approx(0.95 - 0.4, abs=0.01)
    assert col["saturation"][scratch] < 0.01                # neutral
    assert col["saturation"][line] == pytest.approx(0.8, abs=0.01)
    assert col["ring_saturation"][scratch] == pytest.approx(0.65, abs=0.01)
    assert col["fused_share"][scratch] == 0.0


def test_no_region_gives_no_rows():
    img = _picture()
    score = np.zeros(img.shape[:2], np.float32)
    labels, X = dr.region_features(img, score, score, score, score > 0.5)
    assert X.shape == (0, len(dr.FEATURES)) and labels.max() == 0
    assert dr.drop_content(score, img, score, score, 0.5) is score


def test_drop_content_zeroes_the_regions_the_model_rejects(tmp_path):
    # a model that keeps a region only when it is less saturated than its surroundings
    model = {"features": list(dr.FEATURES), "mean": [0.0] * len(dr.FEATURES),
             "scale": [1.0] * len(dr.FEATURES), "coef": [0.0] * len(dr.FEATURES),
             "intercept": 0.0, "threshold": 0.5}
    model["coef"][dr.FEATURES.index("saturation")] = -50.0
    model["coef"][dr.FEATURES.index("ring_saturation")] = 50.0
    path = tmp_path / "regions.json"
    path.write_text(json.dumps(model))
    img, found = _picture(), _found()
    score = np.where(found, 0.97, 0.2).astype(np.float32)
    out = dr.drop_content(score, img, score, score, 0.5, model=path)
    assert out[30, 50] == pytest.approx(0.97)   # the neutral scratch is kept
    assert out[80, 50] == 0.0                   # the saturated line is dropped
    assert out[60, 50] == pytest.approx(0.2)    # below the threshold: untouched
    assert score[80, 50] == pytest.approx(0.97)  # the caller's array is not changed


def test_a_model_fitted_on_other_features_is_refused(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"features": ["log_area"], "mean": [0], "scale": [1],
                                "coef": [1], "intercept": 0, "threshold": 0.5}))
    with pytest.raises(ValueError, match="other features"):
        dr.load_model(path)


def test_shipped_model_keeps_a_neutral_scratch_and_trusts_a_coloured_line_less():
    model = dr.load_model()
    assert dr.weights_path().stat().st_size < 20_000
    assert 0.0 < model["threshold"] < 1.0
    assert np.all(model["scale"] > 0)
    img, found = _picture(), _found()
    # two dark lines of the same brightness: a neutral scratch and a line of the photo's hue
    img[30, 10:150] = 0.15
    img[80, 10:150] = (0.3, 0.1, 0.05)
    score = np.where(found, 0.99, 0.05).astype(np.float32)
    labels, X = dr.region_features(img, score, score, score, found)
    p = dr.damage_probability(X, model)
    scratch, line = p[labels[30, 50] - 1], p[labels[80, 50] - 1]
    assert scratch >= model["threshold"]
    log_odds = np.log(scratch / (1 - scratch)) - np.log(line / (1 - line))
    assert log_odds > 1.0, (scratch, line)  # e^1: the saturated line is judged less damage
