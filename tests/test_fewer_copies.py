"""The CLI's hot paths with fewer full-size temporaries give bit-identical results (issue 22):
CRA's full-resolution half done before the fill (``prepared=``), ``to_uint8`` a block of rows
at a time, ``_to_float`` dividing in place."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from photomend.engines import create_engine
from photomend.hd import _working_copy, run_strategy
from photomend.io import _to_float, to_uint8
from photomend.ops.cra import aggregate_residual, prepare_aggregation


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(7)
    base = cv2.resize(rng.random((24, 40, 3), dtype=np.float32), (400, 240))
    img = np.clip(base + 0.08 * rng.standard_normal((240, 400, 3)).astype(np.float32), 0, 1)
    hole = np.zeros((240, 400), bool)
    hole[60:150, 90:200] = True
    hole[170:200, 280:370] = True
    return img, hole


def test_cra_strategy_is_the_unprepared_aggregation(scene):
    img, hole = scene
    out = run_strategy("cra", create_engine("patchmatch", seed=3), img, hole, working_size=96)
    # what hd's cra did before the full-resolution half moved ahead of the fill
    small, small_mask = _working_copy(img, hole, 96)
    result, structure = create_engine("patchmatch", seed=3).inpaint_layers(small, small_mask)
    reference = aggregate_residual(img, hole, small, structure, match_image=result)
    assert out.dtype == reference.dtype == np.float32
    assert np.array_equal(out, reference)
    assert not np.array_equal(out[hole], img[hole])  # (something was filled)


@pytest.mark.parametrize("options", [{}, {"cell": 8, "feather": 3}, {"top_k": 4}])
def test_prepared_aggregation_is_bit_identical(scene, options):
    img, hole = scene
    small = cv2.resize(img, (100, 60), interpolation=cv2.INTER_AREA)
    fill = cv2.GaussianBlur(small, (0, 0), 2)
    grid_options = {k: v for k, v in options.items() if k in ("cell", "feather")}
    grid = prepare_aggregation(img, hole, small, **grid_options)
    a = aggregate_residual(img, hole, small, fill, prepared=grid, **options)
    b = aggregate_residual(img, hole, small, fill, **options)
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="used already"):
        aggregate_residual(img, hole, small, fill, prepared=grid, **options)


def test_prepared_aggregation_refuses_another_mask_or_size(scene):
    img, hole = scene
    small = cv2.resize(img, (100, 60), interpolation=cv2.INTER_AREA)
    grid = prepare_aggregation(img, hole, small)
    with pytest.raises(ValueError, match="another image"):
        aggregate_residual(img, hole.copy(), small, small, prepared=grid)
    with pytest.raises(ValueError, match="working image"):
        aggregate_residual(img, hole, small, small[:50], prepared=grid)


def _uint8_reference(a: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)


def test_to_uint8_matches_the_whole_array_formula():
    k = np.arange(256, dtype=np.float64)
    edges = np.concatenate([(k + 0.5) / 255, k / 255, [-1.0, -1e-3, 1.001, 2.0]]).astype(np.float32)
    ties = np.concatenate([np.nextafter(edges, np.float32(2)), np.nextafter(edges, np.float32(-2)),
                           edges])
    rng = np.random.default_rng(0)
    cases = [ties, ties.astype(np.float64), rng.random((700, 900, 3), dtype=np.float32) * 1.2 - 0.1,
             rng.random((333, 1501), dtype=np.float32), rng.random((5, 7, 4)),
             rng.random((600, 1200, 3), dtype=np.float32)[:, ::2], np.zeros((0, 3), np.float32)]
    for a in cases:
        got = to_uint8(a)
        assert got.dtype == np.uint8 and got.shape == a.shape
        assert np.array_equal(got, _uint8_reference(a)), a.shape
    assert to_uint8(ties)[ties == np.float32(0.5 / 255)].tolist() == [0]  # half to even


def test_to_float_matches_a_division():
    rng = np.random.default_rng(1)
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        a = rng.integers(0, top + 1, (50, 60, 3)).astype(dtype)
        got = _to_float(a)
        assert got.dtype == np.float32
        assert np.array_equal(got, a.astype(np.float32) / np.float32(top))
        assert got.max() <= 1.0


@pytest.mark.parametrize(("engine", "strategy"), [("telea", "auto"), ("ns", "original"),
                                                  ("patchmatch", "crop")])
def test_remove_in_place_fills_the_given_array_with_the_same_pixels(scene, engine, strategy):
    from photomend.removal import remove_array

    img, hole = scene
    expected = remove_array(img, hole, engine=engine, hd_strategy=strategy, working_size=128)
    assert not np.array_equal(expected[hole], img[hole])  # (the caller's photo is untouched)
    scratch = img.copy()
    out = remove_array(scratch, hole, engine=engine, hd_strategy=strategy, working_size=128,
                       in_place=True)
    assert np.array_equal(out, expected)
    assert np.shares_memory(out, scratch)  # (written into, not copied: the memory is saved)


def test_remove_in_place_never_writes_into_an_array_it_had_to_convert(scene):
    from photomend.removal import remove_array

    img, hole = scene
    given = img.astype(np.float64)
    out = remove_array(given, hole, engine="telea", in_place=True)
    assert np.array_equal(given, img.astype(np.float64))  # (converted: its own copy filled)
    assert out.dtype == np.float32 and not np.array_equal(out[hole], img[hole])
