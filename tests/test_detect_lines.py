"""photomend.restoration.detect_lines: faint stretches of scratches followed as straight runs
of the network's moderate evidence (known answers: a long line among clutter is followed from a
detection on it, short strokes, coloured lines and lines nothing was detected on are not; on a
faint-scratch scan the step adds recall and no false detections)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_detect_stains import _photo
from test_detect_tidelines import _grainy

from photomend.metrics import tolerant_counts
from photomend.restoration import detect_lines
from photomend.restoration.degrade import degrade
from photomend.restoration.detect import add_lines, detect_defects
from photomend.restoration.detect_learned import default_threshold
from photomend.restoration.detect_lines import (
    MAX_MISFIT,
    MIN_PROB,
    grey_blend_misfit,
    line_contrast,
    long_lines,
)


@pytest.fixture(autouse=True)
def _models_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))


def _clutter(h: int = 400, w: int = 560, seed: int = 0) -> np.ndarray:
    """A probability map like the network's on a busy photo: noise up to 0.35 everywhere."""
    return np.random.default_rng(seed).uniform(0.0, 0.35, (h, w)).astype(np.float32)


def _line(prob: np.ndarray, p0, p1, value: float = 0.65, width: int = 3) -> np.ndarray:
    """``prob`` with a line of ``value`` (the network's answer to a faint scratch: a few
    pixels wide, under its threshold)."""
    out = prob.copy()
    stroke = np.zeros(prob.shape, np.uint8)
    cv2.line(stroke, p0, p1, 1, width)
    out[stroke > 0] = value
    return out


def test_a_long_line_of_moderate_evidence_is_followed_from_a_detection_and_clutter_is_not():
    prob = _line(_clutter(), (30, 80), (530, 330))  # 560 px long, slanted
    truth = np.zeros(prob.shape, np.uint8)
    cv2.line(truth, (30, 80), (530, 330), 1, 3)
    truth = truth > 0
    grey = np.full(prob.shape + (3,), 0.5, np.float32)
    seed = np.zeros(prob.shape, bool)
    seed[100:110, 60:90] = truth[100:110, 60:90]  # the detector found a short stretch of it
    found = long_lines(prob, grey, seed)
    tp, n_pred, hit, n_true = tolerant_counts(found, truth)
    assert hit / n_true > 0.9  # the line, end to end
    assert tp / n_pred > 0.99  # and nothing of the clutter
    assert not long_lines(_clutter(seed=1), grey, seed).any()
    assert not long_lines(prob, grey, np.zeros_like(seed)).any()  # a line nobody found


def test_short_strokes_of_the_same_evidence_are_not_lines():
    """Grass blades and ripples: many 40-px strokes, as strong as the long line above."""
    prob, rng = _clutter(), np.random.default_rng(2)
    for _ in range(40):
        x, y, a = rng.uniform(40, 520), rng.uniform(40, 360), rng.uniform(0, np.pi)
        d = 20 * np.array([np.cos(a), np.sin(a)])
        prob = _line(prob, (int(x - d[0]), int(y - d[1])), (int(x + d[0]), int(y + d[1])))
    grey = np.full(prob.shape + (3,), 0.5, np.float32)
    assert long_lines(prob, grey, prob > 0.6).mean() < 0.002


def test_a_coloured_line_is_not_a_scratch_but_a_grey_one_is():
    sky = np.zeros((200, 300, 3), np.float32)
    sky[:] = (0.2, 0.4, 0.8)
    scratch, stem = sky.copy(), sky.copy()
    scratch[:, 150:152] = (0.6, 0.7, 0.9)  # halfway to white: a blend with grey
    stem[:, 150:152] = (0.8, 0.6, 0.1)  # golden: not a blend of the blue with grey
    assert grey_blend_misfit(scratch)[:, 150].max() < MAX_MISFIT
    assert grey_blend_misfit(stem)[:, 150].min() > MAX_MISFIT
    prob = _line(np.full((200, 300), 0.05, np.float32), (150, 0), (150, 199))
    seed = prob > 0.6
    assert long_lines(prob, scratch, seed)[20:180, 150].all()
    assert not long_lines(prob, stem, seed).any()


def test_line_contrast_is_high_on_a_line_and_low_beside_it_and_on_small_maps():
    prob = _line(np.zeros((300, 300), np.float32), (0, 150), (299, 150))
    c = line_contrast(prob)
    assert c.shape == prob.shape
    assert c[150, 150] > 0.5 and c[100, 150] < 0.05
    assert not long_lines(np.full((64, 64), MIN_PROB / 2, np.float32),
                          np.zeros((64, 64, 3), np.float32), np.ones((64, 64), bool)).any()


def test_the_learned_detector_finds_more_of_faint_scratches_with_the_line_step(monkeypatch):
    clean = _grainy(_photo(576, 768), 0.02)
    d = degrade(clean, seed=0, defects=("scratch", "hairline"), amount=2.0,
                opacity=(0.35, 0.5), scale=1.0, ageing=False)
    with_lines = tolerant_counts(detect_defects(d.image), d.mask)
    monkeypatch.setattr(detect_lines, "long_lines",
                        lambda prob, rgb, detected: np.zeros(prob.shape, bool))
    without = tolerant_counts(detect_defects(d.image), d.mask)
    recall = with_lines[2] / with_lines[3]
    assert recall > without[2] / without[3] + 0.03
    assert with_lines[0] / with_lines[1] > 0.95  # the added pixels lie on the scratches


def test_a_followed_line_takes_its_detection_score_so_a_higher_threshold_drops_it():
    prob = _line(_clutter(), (30, 200), (530, 200))
    score = prob.copy()
    score[199:202, 60:80] = 0.95  # the stretch the network was sure of
    out = add_lines(score, prob, np.full(prob.shape + (3,), 0.5, np.float32), default_threshold())
    assert (out[200, 40:520] >= 0.95).mean() > 0.9  # followed at the default threshold
    assert not (out > 0.97).any()  # a caller's 0.97 keeps neither the stretch nor its line
