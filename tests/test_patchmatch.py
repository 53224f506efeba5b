"""The PatchMatch engine and its numba kernels (checked against their NumPy twins)."""

import cv2
import numpy as np
import pytest

from photomend.engines import create_engine
from photomend.engines.patchmatch import _downsample, _Level, _source_centres, _targets
from photomend.errors import MaskError
from photomend.ops import patchmatch_kernels as k
from photomend.ops import patchmatch_reference as ref


def _masked_psnr(a, b, mask):
    return 10 * np.log10(1.0 / np.mean((a[mask] - b[mask]) ** 2))


@pytest.fixture
def level():
    rng = np.random.default_rng(0)
    img = rng.random((40, 48, 3), dtype=np.float32)
    hole = np.zeros((40, 48), bool)
    hole[15:25, 0:12] = True  # touches the left border: border targets are exercised
    return img, hole


def test_patch_ssd_matches_reference(level):
    img, _ = level
    for ty, tx, sy, sx in [(10, 10, 20, 30), (0, 0, 5, 5), (39, 47, 30, 20), (3, 44, 10, 10)]:
        got = k.patch_ssd(img, ty, tx, sy, sx, 3, np.float32(3e38))
        assert got == pytest.approx(ref.patch_ssd(img, ty, tx, sy, sx, 3), rel=1e-4)


def test_vote_matches_reference(level):
    img, hole = level
    r = 3
    valid = _source_centres(hole, r)
    targets, tindex = _targets(hole, r)
    valid_yx = np.argwhere(valid).astype(np.int32)
    k.seed_rng(3)
    nnf = np.empty_like(targets)
    k.random_init(targets, valid_yx, nnf)
    assert valid[nnf[:, 0], nnf[:, 1]].all()
    cost = np.empty(len(targets), np.float32)
    k.compute_costs(img, targets, nnf, cost, r, np.float32(0))
    hole_yx = np.argwhere(hole).astype(np.int32)
    prior = np.random.default_rng(4).random(len(targets), dtype=np.float32) + 0.1
    expected = ref.vote(img, hole_yx, tindex, nnf, cost, r, 20.0, 147.0, prior)
    got = img.copy()
    k.vote(got, hole_yx, tindex, nnf, cost, r, np.float32(20.0), np.float32(147.0), prior)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def _copy_search(seed: int, scans: int = 8, banded: bool = False):
    """A noise image with one 7x7 block copied elsewhere; PatchMatch from a random start.
    Returns (the match of the copy's centre, its cost, costs before, costs after)."""
    rng = np.random.default_rng(1)
    img = rng.random((64, 64, 3), dtype=np.float32)
    img[40:47, 10:17] = img[8:15, 30:37]  # unique duplicate: centre (43, 13) <- (11, 33)
    r = 3
    hole2 = np.zeros((64, 64), bool)
    hole2[43, 16] = True  # makes (43, 13) a target (within r of the hole)
    valid = _source_centres(hole2, r)
    targets, tindex = _targets(hole2, r)
    valid_yx = np.argwhere(valid).astype(np.int32)
    k.seed_rng(seed)
    nnf = np.empty_like(targets)
    cost = np.empty(len(targets), np.float32)
    k.random_init(targets, valid_yx, nnf)
    k.compute_costs(img, targets, nnf, cost, r, np.float32(0))
    start = cost.copy()
    k.patchmatch(img, targets, tindex, valid, nnf, cost, r, scans, 64, np.float32(0), banded=banded)
    i = tindex[43, 13]
    return tuple(nnf[i]), float(cost[i]), start, cost


@pytest.mark.parametrize("banded", [False, True])
def test_patchmatch_finds_an_exact_copy(banded):
    """A hole-free target whose content exists once elsewhere is matched to it exactly: by a
    random search in 8 scans, for about one seed in five (a broken search: never); the costs
    never rise, and a found copy costs 0."""
    # The target at (43, 13) is itself a valid source only if it has no hole pixel: (43, 16)
    # is inside its window, so the best *other* source is the planted copy.
    found = 0
    for seed in range(40):
        match, cost, start, end = _copy_search(seed, banded=banded)
        assert (end <= start).all()
        if match == (11, 33):
            found += 1
            assert cost == pytest.approx(0.0, abs=1e-6)
    assert found >= 4


def test_banded_patchmatch_gives_the_same_matches_on_any_number_of_cores():
    """The bands of a scan each have their own generator and read the other bands' matches as
    they were before the scan: one thread or several, the same result."""
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _copy_search(7, scans=4, banded=True)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = _copy_search(7, scans=4, banded=True)
    finally:
        numba.set_num_threads(before)
    assert one[0] == many[0]
    np.testing.assert_array_equal(one[3], many[3])


def test_periodic_texture_hole_filled_exactly():
    y, x = np.mgrid[0:160, 0:160].astype(np.float32)
    img = np.stack([
        0.5 + 0.3 * np.sin(2 * np.pi * x / 8) * np.cos(2 * np.pi * y / 12),
        0.5 + 0.2 * np.sin(2 * np.pi * (x + y) / 10),
        0.4 + 0.2 * ((x // 4 + y // 4) % 2),
    ], -1).astype(np.float32)
    hole = np.zeros((160, 160), bool)
    hole[60:100, 50:100] = True
    out = create_engine("patchmatch", seed=0).inpaint(img, hole)
    assert _masked_psnr(out, img, hole) > 30.0
    telea = create_engine("telea").inpaint(img, hole)
    assert _masked_psnr(telea, img, hole) < 25.0  # the texture is what makes this hard


def test_deterministic_for_a_seed_and_outside_untouched():
    rng = np.random.default_rng(5)
    img = rng.random((64, 80, 3), dtype=np.float32)
    hole = np.zeros((64, 80), bool)
    hole[20:40, 30:50] = True
    before = img.copy()
    a = create_engine("patchmatch", seed=7).inpaint(img, hole)
    b = create_engine("patchmatch", seed=7).inpaint(img, hole)
    c = create_engine("patchmatch", seed=8).inpaint(img, hole)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(a[~hole], img[~hole])
    np.testing.assert_array_equal(img, before)  # the caller's array is not modified
    assert a.dtype == np.float32 and 0.0 <= a.min() and a.max() <= 1.0


def test_nothing_to_copy_from_is_a_clear_error():
    img = np.zeros((32, 32, 3), np.float32)
    hole = np.ones((32, 32), bool)
    hole[0:3, 0:3] = False  # known pixels exist, but no 7x7 fully known patch
    with pytest.raises(MaskError, match="nothing to copy from"):
        create_engine("patchmatch").inpaint(img, hole)


def test_inpaint_layers_gives_the_fill_and_its_structure():
    """One search, two layers: the fill of ``inpaint`` and the same fill without texture."""
    rng = np.random.default_rng(5)
    img = cv2.GaussianBlur(rng.random((96, 96, 3), dtype=np.float32), (0, 0), 1.0)
    img += 0.1 * rng.random((96, 96, 3), dtype=np.float32)  # fine grain the texture carries
    hole = np.zeros((96, 96), bool)
    hole[30:66, 34:70] = True
    engine = create_engine("patchmatch", seed=3)
    fill, structure = engine.inpaint_layers(img, hole)
    np.testing.assert_array_equal(fill, create_engine("patchmatch", seed=3).inpaint(img, hole))
    np.testing.assert_array_equal(structure[~hole], img[~hole])
    inner = cv2.erode(hole.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0

    def lap_energy(a):
        return float(np.mean(cv2.Laplacian(a.mean(axis=2), cv2.CV_32F)[inner] ** 2))

    assert lap_energy(structure) < 0.5 * lap_energy(fill)


def test_vote_prior_favours_patches_near_the_rim():
    hole = np.zeros((40, 40), bool)
    hole[10:30, 10:30] = True
    engine = create_engine("patchmatch")
    targets, _ = _targets(hole, 3)
    prior = engine._vote_prior(hole, targets)
    by_centre = dict(zip(map(tuple, targets), prior))
    assert by_centre[(8, 20)] == pytest.approx(1.0)  # centre on a known pixel
    assert by_centre[(20, 20)] < by_centre[(12, 20)] < by_centre[(10, 20)] <= 1.0


@pytest.mark.parametrize("where", ["smooth", "textured"])
def test_the_fill_is_as_detailed_as_its_surroundings(where):
    """A hole in a smooth area (faint grain) and one in a textured area of the same photo: the
    fill's fine detail (Laplacian energy) is within 0.6-1.4x the truth's in both. A constant
    texture gain makes one of them wrong (grain sprinkled over the smooth fill, or a textured
    fill as soft as the averaged votes)."""
    rng = np.random.default_rng(4)
    img = np.full((160, 160, 3), 0.5, np.float32)
    img += 0.003 * rng.standard_normal((160, 160, 1)).astype(np.float32)
    tex = cv2.GaussianBlur(rng.standard_normal((160, 60)).astype(np.float32), (0, 0), 1.5)
    img[:, 100:] += 0.15 * tex[..., None]
    img = np.clip(img, 0, 1)
    hole = np.zeros((160, 160), bool)
    hole[60:100, 20:60] = where == "smooth"
    hole[60:100, 110:150] = where == "textured"
    inner = cv2.erode(hole.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0

    def lap_energy(a):
        return float(np.mean(cv2.Laplacian(a.mean(axis=2), cv2.CV_32F)[inner] ** 2))

    engine = create_engine("patchmatch", seed=0)
    ratio = lap_energy(engine.inpaint(img, hole)) / lap_energy(img)
    assert 0.6 < ratio < 1.4
    engine.texture_gain_max = 0.0  # the voted fill alone is too soft where there is texture
    if where == "textured":
        assert lap_energy(engine.inpaint(img, hole)) / lap_energy(img) < 0.6


def test_coarse_levels_average_known_pixels_only_and_the_hole_shrinks():
    # A red object on a grey-to-white ramp: the coarse level must carry the ramp's colours into
    # the hole's edge without any red, and keep as hole only what has no known pixel under it.
    ramp = np.repeat(np.linspace(0.3, 0.9, 64, dtype=np.float32)[None, :, None], 3, axis=2)
    img = np.repeat(ramp, 64, axis=0)
    hole = np.zeros((64, 64), bool)
    hole[21:43, 21:43] = True
    img[hole] = (1.0, 0.0, 0.0)
    coarse = _downsample(_Level(img, hole))
    assert coarse.img.shape == (32, 32, 3)
    known = ~coarse.hole
    np.testing.assert_allclose(coarse.img[known, 0], coarse.img[known, 1], atol=1e-6)  # no red
    # Pixels 21 and 42 straddle the hole's edge: their coarse pixels are known (half-covered).
    assert not coarse.hole[10, 16] and not coarse.hole[16, 21]
    assert coarse.hole[11:21, 11:21].all() and coarse.hole.sum() == 100
    # The half-covered coarse pixels hold the known fine pixel's value, not a mix with the hole.
    np.testing.assert_allclose(coarse.img[16, 10], img[32, 20], atol=1e-6)


def _textured_background(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bg = 0.55 + 0.06 * cv2.GaussianBlur(rng.standard_normal((n, n)).astype(np.float32), (0, 0), 1.2)
    return np.repeat(bg[..., None], 3, axis=2)


def test_a_line_crossing_the_hole_is_continued():
    """A dark 3-px line crosses a hole on a textured background: inside the hole the fill
    draws it where it was, each column's line centre within 1 px of the truth. Without the
    structure guidance the patches lose it (measured: 40 px off at worst)."""
    n = 160
    img = _textured_background(n)
    yy, xx = np.mgrid[:n, :n]
    img[np.abs(yy - (0.35 * xx + 40)) <= 1.5] = 0.15
    hole = np.zeros((n, n), bool)
    hole[50:110, 55:105] = True

    def worst_offset(out):
        dark = np.clip(0.35 - out[50:110].mean(axis=2), 0, None)  # line pixels only
        centre = 50 + (dark * np.arange(60)[:, None]).sum(axis=0) / np.maximum(dark.sum(axis=0), 1e-6)
        return float(np.abs(centre - (0.35 * np.arange(n) + 40))[55:105].max())

    engine = create_engine("patchmatch", seed=0)
    assert worst_offset(engine.inpaint(img, hole)) <= 1.0
    unguided = create_engine("patchmatch", seed=0, line_weight=0.0)
    assert worst_offset(unguided.inpaint(img, hole)) > 3.0


def test_a_checkerboard_in_perspective_keeps_its_grid():
    """A façade-like grid seen in perspective: the fill's edges are the truth's (edge F1 inside
    the hole, 2 px tolerance) and its squares are where they were (PSNR far above Telea's)."""
    from photomend.metrics import pooled_scores, tolerant_counts

    n = 192
    yy, xx = np.mgrid[:n, :n]
    board = (((yy // 16) + (xx // 16)) % 2).astype(np.float32) * 0.6 + 0.2
    corners = np.float32([[0, 0], [n, 0], [n, n], [0, n]])
    warped = np.float32([[30, 10], [170, 35], [175, 160], [20, 185]])
    grey = cv2.warpPerspective(board, cv2.getPerspectiveTransform(corners, warped), (n, n),
                               flags=cv2.INTER_AREA, borderValue=0.5)
    img = np.repeat(grey[..., None], 3, axis=2)
    hole = np.zeros((n, n), bool)
    hole[70:120, 75:125] = True

    def edges(a):
        return cv2.Canny((a.mean(axis=2) * 255).astype(np.uint8), 100, 200) > 0

    out = create_engine("patchmatch", seed=0).inpaint(img, hole)
    telea = create_engine("telea").inpaint(img, hole)
    f1 = pooled_scores(tolerant_counts(edges(out) & hole, edges(img) & hole, tol=2))[2]
    assert f1 >= 0.9
    assert _masked_psnr(out, img, hole) > _masked_psnr(telea, img, hole) + 5.0


def test_the_removed_objects_halo_does_not_come_back():
    """A red disc masked 3 px too tight: its red rim stays outside the mask, but no red pixel
    appears inside the hole (patches touching the rim are not copied)."""
    n = 160
    img = _textured_background(n)
    yy, xx = np.mgrid[:n, :n]
    img[(yy - 80) ** 2 + (xx - 80) ** 2 <= 22**2] = (0.9, 0.1, 0.1)
    hole = (yy - 80) ** 2 + (xx - 80) ** 2 <= 19**2

    def red_pixels(out):
        return int(((out[..., 0] - out[..., 1:].max(axis=2))[hole] > 0.2).sum())

    engine = create_engine("patchmatch", seed=0)
    assert red_pixels(engine.inpaint(img, hole)) == 0
    engine.halo = 0  # the check can fail: without the halo, the rim is copied in
    assert red_pixels(engine.inpaint(img, hole)) > 0


def _periodic(h, w):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([
        0.5 + 0.3 * np.sin(2 * np.pi * x / 16) * np.cos(2 * np.pi * y / 24),
        0.5 + 0.2 * np.sin(2 * np.pi * (x + y) / 20),
        0.4 + 0.2 * ((x // 8 + y // 8) % 2),
    ], -1).astype(np.float32)


def test_a_big_hole_is_refined_at_full_resolution_and_stays_sharp():
    """A hole deeper than 330 px (where gamma ** -depth underflows float32) in a 2 MP photo:
    the levels above ``refine_pixels`` refine the doubled matches, the fill reproduces the
    texture as crisp and as colourful as the photo's, where CRA's blown-up working-size fill
    is a grey blotch, and no pixel leaves the photo's colour range (the underflowed vote drew
    black and white curves)."""
    from photomend.hd import run_strategy
    from photomend.metrics import detail_ratio

    img = _periodic(1440, 1440)
    hole = np.zeros(img.shape[:2], bool)
    hole[360:1080, 360:1080] = True
    engine = create_engine("patchmatch", seed=0)
    assert hole.sum() > engine.refine_pixels
    out = run_strategy("auto", engine, img, hole)
    cra = run_strategy("cra", engine, img, hole)
    assert 0.7 < detail_ratio(out, img, hole) < 1.3
    assert detail_ratio(cra, img, hole) > 2.0
    chroma = lambda a: float((a[hole] - a[hole].mean(axis=1, keepdims=True)).std())  # noqa: E731
    assert chroma(out) > 0.8 * chroma(img) > chroma(cra)
    lo, hi = img[~hole].min(axis=0), img[~hole].max(axis=0)
    assert np.all(out[hole] >= lo - 0.02) and np.all(out[hole] <= hi + 0.02)


def test_two_threads_fill_at_once_under_numba_workqueue_layer():
    """Where no OpenMP runtime is installed numba falls back to its workqueue layer, which
    aborts the process when two threads launch parallel kernels at once (the CLI's warm-up
    thread and its fill did): the kernels take a lock."""
    import os
    import subprocess
    import sys

    code = (
        "import threading, numpy as np\n"
        "from photomend.engines import create_engine\n"
        "img = np.random.default_rng(0).random((96, 96, 3), dtype=np.float32)\n"
        "hole = np.zeros((96, 96), bool); hole[30:60, 30:60] = True\n"
        "def fill(): create_engine('patchmatch', seed=0).inpaint(img, hole)\n"
        "threads = [threading.Thread(target=fill) for _ in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "import numba; print(numba.threading_layer())\n"
    )
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "workqueue"


def test_load_kernels_loads_the_banded_scan_that_big_photos_use():
    """prewarm's background thread loads the banded scan with the argument types a photo
    larger than lines_side brings, so the real fill finds it loaded (nothing new to load)."""
    engine = create_engine("patchmatch")
    engine.load_kernels()
    assert len(k._banded_scan.signatures) == 1
    img = np.random.default_rng(5).random((40, engine.lines_side + 80, 3), dtype=np.float32)
    hole = np.zeros(img.shape[:2], bool)
    hole[15:25, 500:520] = True
    out = engine.inpaint(img, hole)
    assert np.isfinite(out).all()
    assert len(k._banded_scan.signatures) == 1
