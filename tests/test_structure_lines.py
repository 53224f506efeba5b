"""Structure lines: LSD segments cut at the hole, rays joined through it, the guidance map."""

import numpy as np

from photomend.ops.structure_lines import complete_lines, find_segments, guidance


def _hole():
    hole = np.zeros((80, 120), bool)
    hole[25:55, 45:75] = True
    return hole


def test_segments_stop_short_of_the_hole():
    grey = np.full((80, 120), 0.8, np.float32)
    grey[38:42, :] = 0.2  # a dark bar crossing the hole
    hole = _hole()
    grey[hole] = 0.0
    segs = find_segments(grey, hole)
    assert len(segs) >= 2
    xs = segs[:, [0, 2]]
    assert not ((xs > 44) & (xs < 76)).any()  # nothing drawn on the hole (1.5 px clearance)


def test_collinear_rays_are_joined_and_unrelated_ones_are_not():
    hole = _hole()
    segs = np.array([[5, 40, 42, 40],      # enters from the left ...
                     [115, 41, 78, 41],    # ... and leaves on the right, 1 px lower: joined
                     [60, 5, 60, 22],      # enters from the top; no partner, no corner
                     [90, 75, 110, 60]],   # ends far from the hole
                    np.float32)  # fmt: skip
    lines, used = complete_lines(segs, hole)
    assert len(lines) == 1
    np.testing.assert_allclose(lines[0], [[42, 40], [78, 41]], atol=0.01)
    assert used.tolist() == segs[:2].tolist()


def test_two_long_lines_meeting_inside_the_hole_make_a_corner():
    hole = _hole()
    segs = np.array([[5, 40, 42, 40], [60, 0, 60, 24]], np.float32)  # both >= 24 px long
    lines, _ = complete_lines(segs, hole)
    assert len(lines) == 1
    np.testing.assert_allclose(lines[0][1], [60, 40], atol=0.01)  # the corner


def test_guidance_encodes_orientation_and_keeps_segments_outside_the_hole():
    hole = _hole()
    g = guidance(hole.shape, np.array([[5, 40, 115, 40]], np.float32), [], hole)
    assert g[40, 20, 0] > 0.9 and abs(g[40, 20, 1]) < 0.05  # horizontal: cos 2θ = 1
    inside = np.zeros_like(hole)
    inside[29:51, 49:71] = True  # 4 px in from the rim, beyond the line profile's reach
    assert np.abs(g[inside]).max() == 0.0  # a segment is never drawn over the hole
    v = guidance(hole.shape, [], [np.array([[60.0, 5.0], [60.0, 75.0]])], hole)
    assert v[40, 60, 0] < -0.9  # vertical, drawn through the hole: cos 2θ = -1
