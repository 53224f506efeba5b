import numpy as np
import pytest

from photomend.restoration.damage_families import FAMILIES, TRUTH_WEIGHT, damage
from photomend.restoration.degrade import degrade

DRAWN = ("strokes", "folds", "surface")


def _photo(h=192, w=256, seed=0):
    """A smooth colour photo with some edges (the families tone and fade it)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    rgb = np.stack([0.3 + 0.4 * xx, 0.4 + 0.3 * yy, 0.5 - 0.2 * xx * yy], 2)
    rgb[h // 3: h // 2, w // 4: w // 2] = rng.uniform(0.1, 0.9, 3)
    return rgb.astype(np.float32)


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_scan_other_seed_other_scan(family):
    photo = _photo()
    a, b, c = (damage(photo, family, seed=s) for s in (5, 5, 6))
    assert (a.image == b.image).all() and (a.mask == b.mask).all()
    assert not (a.image == c.image).all()
    assert a.image.dtype == np.float32 and a.mask.dtype == bool
    assert a.image.shape == photo.shape and a.mask.shape == photo.shape[:2]
    assert 0.0 <= a.image.min() and a.image.max() <= 1.0


@pytest.mark.parametrize("family", DRAWN)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_truth_is_exactly_where_the_damage_weighs(family, seed):
    """Without the scan effects, a pixel outside the mask differs from the clean twin by less
    than the truth weight (the drawn colours are in [0, 1]); the damage is visible inside."""
    d = damage(_photo(), family, seed=seed, scan=False)
    assert d.mask.any()
    diff = np.abs(d.image - d.clean).max(axis=2)
    assert diff[~d.mask].max() < TRUTH_WEIGHT + 1e-5
    assert np.median(diff[d.mask]) > 0.05
    union = np.zeros_like(d.mask)
    for m in d.kinds.values():
        union |= m
    assert (union <= d.mask).all()  # each kind's truth is inside the combined one


def test_input_is_not_modified():
    photo = _photo()
    before = photo.copy()
    for family in FAMILIES:
        damage(photo, family, seed=1)
    assert (photo == before).all()


def test_degrade_family_is_degrade():
    photo = _photo()
    a, b = damage(photo, "degrade", seed=3), degrade(photo, seed=3)
    assert (a.image == b.image).all() and (a.mask == b.mask).all()


def test_a_fold_crosses_the_whole_photo():
    """A crease runs from border to border: its pixels on the border lie far apart."""
    for seed in range(4):
        crease = damage(_photo(), "folds", seed=seed, scan=False).kinds["crease"]
        h, w = crease.shape
        border = np.zeros_like(crease)
        border[[0, -1], :] = border[:, [0, -1]] = True
        ys, xs = np.nonzero(crease & border)
        assert np.hypot(xs.max() - xs.min(), ys.max() - ys.min()) > 0.3 * min(h, w)


def test_kinds_per_family():
    seen = {f: set() for f in DRAWN}
    for seed in range(6):
        for f in DRAWN:
            seen[f] |= set(damage(_photo(), f, seed=seed).kinds)
    assert {"thin scratch", "wide scratch", "dust"} <= seen["strokes"]
    assert {"crease", "crack", "tear"} <= seen["folds"]
    assert {"stain", "flake"} <= seen["surface"]


@pytest.mark.parametrize("family", DRAWN)
def test_defects_scale_with_the_photo(family):
    """The same seed at 512 and 1024 px covers about the same share of the photo."""
    small = damage(_photo(384, 512), family, seed=4).mask.mean()
    large = damage(_photo(768, 1024), family, seed=4).mask.mean()
    assert 0.5 < small / large < 2.0


def test_invalid_input():
    with pytest.raises(ValueError, match="unknown damage family"):
        damage(_photo(), "mould")
    with pytest.raises(ValueError, match="HxWx3"):
        damage(np.zeros((64, 64), np.float32), "folds")
