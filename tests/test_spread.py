import numpy as np

from photomend.ops.spread import spread


def test_spread_keeps_known_values_and_fills_between_them():
    v = np.zeros((64, 64), np.float32)
    v[:, :32] = 2.0
    w = np.zeros((64, 64), np.float32)
    w[:, :8] = 1.0
    w[:, -8:] = 1.0
    s = spread(v, w, (3.0, 30.0))
    assert abs(float(s[32, 4]) - 2.0) < 1e-3 and abs(float(s[32, 60])) < 1e-3
    middle = s[32, 16:48]
    assert 0.0 < middle.min() and middle.max() < 2.0
    assert np.all(np.diff(middle) <= 1e-5)  # falls from the left value to the right one


def test_spread_falls_back_to_the_wide_scale_deep_inside_a_hole():
    v = np.full((128, 128), 3.0, np.float32)
    w = np.zeros((128, 128), np.float32)
    w[:4, :] = 1.0  # known only along the top edge
    narrow = spread(v, w, (2.0,))
    wide = spread(v, w, (2.0, 60.0))
    assert not np.isfinite(narrow[100, 64]) or abs(float(narrow[100, 64]) - 3.0) > 0.5
    assert abs(float(wide[100, 64]) - 3.0) < 1e-3
