"""Tests of photomend.compare: the before/after sheet's layout, tint, scaling and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from photomend.compare import BACKGROUND, TINT, before_after, tint_mask
from photomend.errors import InputError


@pytest.fixture
def pair(photo, hole):
    """(image, mask, result) as float32 arrays: the result is the image with the hole greyed."""
    image = photo.astype(np.float32) / 255
    result = image.copy()
    result[hole] = 0.5
    return image, hole, result


def _layout(sheet: np.ndarray, h: int, w: int) -> tuple[int, int]:
    """(label strip height, gap) of a sheet whose panels are h x w."""
    strip = sheet.shape[0] - h
    return strip, sheet.shape[1] - 2 * w


def test_panels_sit_side_by_side_under_their_labels(pair):
    image, hole, result = pair
    sheet = before_after(image, hole, result)
    assert sheet.dtype == np.float32 and sheet.ndim == 3 and sheet.shape[2] == 3
    strip, gap = _layout(sheet, 48, 64)
    assert strip >= 20 and gap >= 4
    before, after = sheet[strip:, :64], sheet[strip:, 64 + gap :]
    np.testing.assert_array_equal(after, result)
    np.testing.assert_array_equal(before[~hole], image[~hole])
    assert np.isclose(sheet[strip:, 64 : 64 + gap], BACKGROUND).all()
    # The labels are white text on the dark strip, over both panels.
    for x0, x1 in ((0, 64), (64 + gap, 2 * 64 + gap)):
        assert sheet[:strip, x0:x1].max() > 0.9
        assert np.isclose(sheet[:strip, x0:x1], BACKGROUND).all(axis=2).mean() > 0.5


def test_hole_is_tinted_and_outlined(pair):
    image, hole, _ = pair
    before = tint_mask(image, hole)
    ys, xs = np.nonzero(hole)
    np.testing.assert_array_equal(before[ys.min(), xs.min()], TINT)  # a corner: outline
    inner = before[ys.min() + 3, xs.min() + 3]
    expected = 0.5 * image[ys.min() + 3, xs.min() + 3] + 0.5 * np.array(TINT)
    np.testing.assert_allclose(inner, expected, atol=1e-6)


def test_inputs_are_not_modified(pair):
    image, hole, result = pair
    copies = [a.copy() for a in pair]
    before_after(image, hole, result, max_side=32)
    for a, b in zip(pair, copies):
        np.testing.assert_array_equal(a, b)


def test_max_side_scales_both_panels_and_keeps_thin_strokes():
    image = np.full((300, 400, 3), 0.25, np.float32)
    mask = np.zeros((300, 400), bool)
    mask[150, 50:350] = True  # a one-pixel line: must survive a 4x downscale
    sheet = before_after(image, mask, image, max_side=100)
    strip, gap = _layout(sheet, 75, 100)
    assert strip >= 20 and gap >= 4
    before = sheet[strip:, :100]
    assert np.isclose(before, TINT).all(axis=2).any()
    assert before_after(image, mask, image, max_side=1000).shape[1] > 2 * 400  # not scaled up


def test_long_labels_are_shrunk_to_fit(pair):
    image, hole, result = pair
    sheet = before_after(image, hole, result, labels=("a very long caption indeed", "after"))
    strip, gap = _layout(sheet, 48, 64)
    # Nothing of the first caption spills over the gap into the second panel's strip.
    assert np.isclose(sheet[:strip, 64 : 64 + gap], BACKGROUND).all()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda i, m, r: (i[:, :, 0], m, r), "HxWx3"),
        (lambda i, m, r: ((i * 255).astype(np.uint8), m, r), "float"),
        (lambda i, m, r: (i, m[:-1], r), "same height and width"),
        (lambda i, m, r: (i, m, r[:, :-1]), "same height and width"),
    ],
)
def test_invalid_input(pair, change, needle):
    with pytest.raises(InputError, match=needle):
        before_after(*change(*pair))


def test_invalid_max_side(pair):
    with pytest.raises(InputError, match="max_side"):
        before_after(*pair, max_side=0)
