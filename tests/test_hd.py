"""High-resolution strategies: every strategy fills the hole and only the hole (and its rim)."""

import numpy as np
import pytest

from photomend.engines import create_engine
from photomend.errors import InputError, UnknownEngineError
from photomend.hd import STRATEGIES, _regions, run_strategy


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(0)
    base = rng.random((24, 32, 3), dtype=np.float32)
    import cv2

    img = cv2.resize(base, (1280, 960), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img + 0.05 * rng.standard_normal(img.shape).astype(np.float32), 0, 1)
    hole = np.zeros((960, 1280), bool)
    hole[100:160, 100:180] = True  # small: fits a native crop
    hole[400:900, 500:1200] = True  # big: CRA for engines that do not refine natively
    return img, hole


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_fills_only_the_hole(photo, name):
    img, hole = photo
    out = run_strategy(name, create_engine("telea"), img, hole, working_size=256)
    assert out.shape == img.shape and out.dtype == np.float32
    import cv2

    rim = cv2.dilate(hole.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    np.testing.assert_array_equal(out[~rim], img[~rim])
    assert np.abs(out[hole] - img[hole]).mean() > 0.01  # the hole really was refilled


def test_regions_merge_overlapping_crops():
    mask = np.zeros((400, 400), bool)
    mask[100:110, 100:110] = True
    mask[100:110, 130:140] = True  # crops overlap: one region
    mask[350:360, 350:360] = True
    regions = _regions(mask)
    assert sorted(len(r.labels) for r in regions) == [1, 2]


def test_regions_far_apart_keep_their_own_crops():
    """A long scratch and a speck whose crops overlap only at a corner: one crop around both
    would be far bigger than the two, so each keeps its own (a scan's specks and tears merged
    into one crop the size of the scan)."""
    mask = np.zeros((1000, 1000), bool)
    mask[100:110, 100:500] = True  # crop ~ (0-315, 0-700)
    mask[300:310, 650:660] = True  # crop ~ (236-374, 586-724)
    regions = _regions(mask)
    assert len(regions) == 2
    assert sum(r.pixels for r in regions) < 0.5 * mask.size


def test_a_chain_of_specks_stops_merging_at_the_size_cap():
    """Specks in a row, each crop overlapping the next: merged pairwise they would chain into
    one crop as long as the row (a 12 MP scan's specks: one 4.8 MP crop); past the cap each
    merge would grow the crop beyond it, so the row stays in several crops."""
    mask = np.zeros((200, 2000), bool)
    for x in range(100, 1900, 100):
        mask[95:105, x:x + 10] = True
    assert len(_regions(mask)) == 1  # (no cap: one crop)
    regions = _regions(mask, merge_max_pixels=200 * 600)
    assert len(regions) > 2
    assert max(r.pixels for r in regions) <= 200 * 600
    assert sorted(i for r in regions for i in r.labels) == list(range(1, 19))


def test_in_place_fills_the_given_array_with_the_same_result(photo):
    img, _ = photo
    hole = np.zeros(img.shape[:2], bool)
    hole[100:112, 100:700] = True
    hole[380:410, 900:930] = True
    engine = create_engine("patchmatch", seed=0)
    before = img.copy()
    copy = run_strategy("crop", engine, img, hole, working_size=256)
    np.testing.assert_array_equal(img, before)  # (without in_place the photo is untouched)
    scratch = img.copy()
    filled = run_strategy("crop", engine, scratch, hole, working_size=256, in_place=True)
    assert filled is scratch
    np.testing.assert_array_equal(filled, copy)


def test_a_hole_inside_another_regions_crop_is_never_a_source(photo):
    """Crops that are not merged still see each other's holes as hole: a red blotch (a hole)
    inside the scratch's crop must not be copied into the scratch's fill."""
    img, _ = photo
    img = img.copy()
    hole = np.zeros(img.shape[:2], bool)
    hole[100:112, 100:700] = True  # a long scratch
    hole[380:410, 900:930] = True  # a blotch at the edge of its crop, its own crop sticking out
    img[hole] = (1.0, 0.0, 0.0)
    regions = _regions(hole)
    assert len(regions) == 2
    out = run_strategy("crop", create_engine("patchmatch", seed=0), img, hole, working_size=256)
    reddish = (out[..., 0] > 0.9) & (out[..., 1] < 0.1) & (out[..., 2] < 0.1)
    assert not reddish[hole].any()


def test_unknown_strategy_and_bad_working_size():
    img = np.zeros((64, 64, 3), np.float32)
    hole = np.zeros((64, 64), bool)
    hole[10:20, 10:20] = True
    with pytest.raises(UnknownEngineError, match="unknown hd strategy 'zoom'"):
        run_strategy("zoom", create_engine("telea"), img, hole)
    with pytest.raises(InputError, match="working size"):
        run_strategy("cra", create_engine("telea"), img, hole, working_size=8)


def test_auto_fills_every_region_natively_with_patchmatch(photo):
    """Above the engine's pixel budget, auto fills each region in its crop (patchmatch refines
    natively, so even the big one skips CRA); both are filled and the photo away from them is
    untouched."""
    import cv2

    img, hole = photo
    engine = create_engine("patchmatch", seed=0)
    assert hole.size > engine.traits.max_pixels
    out = run_strategy("auto", engine, img, hole, working_size=256)
    rim = cv2.dilate(hole.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    np.testing.assert_array_equal(out[~rim], img[~rim])
    small, big = hole.copy(), hole.copy()
    small[300:] = False
    big[:300] = False
    for part in (small, big):
        assert np.abs(out[part] - img[part]).mean() > 0.01


def test_crop_keeps_only_the_hole_of_a_cra_fill_whose_crop_is_the_photo(photo):
    """``crop`` with an engine that does not refine natively: a region too big for it is filled
    with CRA in its crop, and even when that crop is the whole photo only the hole is taken
    (CRA's feathered rim outside the mask is not)."""
    from dataclasses import replace

    from photomend.engines.opencv import TeleaEngine

    class SmallTelea(TeleaEngine):
        traits = replace(TeleaEngine.traits, max_pixels=10_000)

    img, _ = photo
    hole = np.zeros(img.shape[:2], bool)
    hole[200:760, 300:980] = True  # its crop (half its size around it) is the whole photo
    out = run_strategy("crop", SmallTelea(), img, hole, working_size=256)
    np.testing.assert_array_equal(out[~hole], img[~hole])
    assert np.abs(out[hole] - img[hole]).mean() > 0.01


def test_a_speck_inside_a_bigger_crop_is_filled_there_once(photo):
    """Crops are filled biggest first, each keeping the components wholly inside it: a speck
    in the scratch's crop is filled with the scratch, and its own (unmerged) crop is skipped."""
    from photomend.engines.opencv import TeleaEngine

    calls = []

    class CountingTelea(TeleaEngine):
        def inpaint(self, rgb, mask, **kw):
            calls.append(int(mask.sum()))
            return super().inpaint(rgb, mask, **kw)

    img, _ = photo
    hole = np.zeros(img.shape[:2], bool)
    hole[100:112, 100:700] = True
    hole[380:410, 900:930] = True  # inside the scratch's crop, its own crop sticking out
    assert len(_regions(hole)) == 2
    out = run_strategy("crop", CountingTelea(), img, hole, working_size=256)
    assert calls == [int(hole.sum())]
    assert np.abs(out[hole] - img[hole]).mean() > 0.01
