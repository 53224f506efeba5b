"""The colour guard: fill colours that occur nowhere around the hole are refilled."""

import numpy as np

from photomend.ops.colour_guard import foreign, replace_foreign


def _scene():
    rng = np.random.default_rng(0)
    img = 0.45 + 0.1 * rng.random((96, 96, 3), dtype=np.float32)  # grey-ish texture
    img[:, :, 2] += 0.05
    img[:8, 88:] = (0.1, 0.3, 0.9)  # blue, but far from the hole (beyond its reach)
    hole = np.zeros((96, 96), bool)
    hole[40:56, 40:56] = True
    return img, hole


def test_a_far_away_colour_in_the_fill_is_foreign_and_refilled():
    img, hole = _scene()
    filled = img.copy()
    filled[44:50, 44:50] = (0.1, 0.3, 0.9)  # a patch of the far blue copied into the hole
    bad = foreign(filled, hole)
    assert bad[44:50, 44:50].all() and bad.sum() == 36
    out = replace_foreign(filled, hole)
    assert not foreign(out, hole).any()
    assert abs(float(out[47, 47].mean()) - float(img[hole].mean())) < 0.05
    np.testing.assert_array_equal(out[~hole], filled[~hole])


def test_colours_of_the_surroundings_are_kept():
    img, hole = _scene()
    filled = img.copy()
    filled[hole] = img[20:36, 20:36].reshape(-1, 3)  # texture copied from nearby
    assert not foreign(filled, hole).any()
    assert replace_foreign(filled, hole) is filled  # nothing to do: the same array
