import numpy as np

from photomend.metrics import pooled_scores, tolerant_counts
from photomend.restoration.damage_families import damage
from photomend.restoration.detect_tophat import tophat_defects


def _grey(h=256, w=256, level=0.45):
    return np.full((h, w, 3), level, np.float32)


def test_a_wide_crease_across_the_photo_is_found():
    img = _grey()
    img[:, 120:126] = 0.9  # 6 px bright crease, top to bottom
    m = tophat_defects(img)
    assert m[:, 120:126].mean() > 0.95
    assert m[:, :110].sum() == 0 and m[:, 136:].sum() == 0


def test_a_thick_dark_curved_scratch_is_found():
    img = _grey(level=0.6)
    t = np.linspace(0, 1, 400)
    xs, ys = 30 + 200 * t, 128 + 60 * np.sin(3 * t)
    truth = np.zeros(img.shape[:2], bool)
    for x, y in zip(xs, ys):
        truth[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3] = True
    img[truth] = 0.1
    p, r, _ = pooled_scores(tolerant_counts(tophat_defects(img), truth))
    assert r > 0.9 and p > 0.9


def test_dark_and_bright_specks_are_found():
    img = _grey()
    img[50:53, 50:53] = 0.02
    img[150:152, 180:182] = 0.98
    m = tophat_defects(img)
    assert m[51, 51] and m[150, 180]


def test_texture_is_not_flagged():
    """A busy, regular texture (a brick-like grid of edges) responds everywhere: gated out."""
    rng = np.random.default_rng(0)
    img = _grey()
    img += rng.normal(0, 0.08, img.shape[:2])[:, :, None].astype(np.float32)
    img[::8, :] -= 0.25
    img = np.clip(img, 0, 1)
    assert tophat_defects(img).mean() < 0.01


def test_mask_shape_and_type():
    d = damage(np.full((96, 128, 3), 0.5, np.float32), "strokes", seed=0)
    m = tophat_defects(d.image)
    assert m.shape == (96, 128) and m.dtype == bool
