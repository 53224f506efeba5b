"""photomend.colorize: colour space, hints, propagation, reference transfer, the verb and the CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from PIL import Image

import photomend
from photomend.cli import main
from photomend.colorization import colorize, colorize_array, read_hints
from photomend.colorization import propagate as prop
from photomend.colorization.colorspace import (
    chroma,
    compose,
    lab_to_rgb,
    luma,
    rgb_to_lab,
    split,
)
from photomend.errors import ColorizeError, HintsError, ImageReadError, InputError

RED, BLUE = "#c83c28", "#2850c8"


def _luma8(rgb8: np.ndarray) -> np.ndarray:
    return rgb8.astype(np.float64) @ [0.299, 0.587, 0.114]


@pytest.fixture
def two_regions() -> np.ndarray:
    """A 40x60 grey photo: a dark left half and a bright right half, with mild texture."""
    grey = np.full((40, 60), 70.0)
    grey[:, 30:] = 180.0
    grey += np.random.default_rng(0).normal(0, 3, grey.shape)
    return np.clip(grey, 0, 255).astype(np.uint8)


def _two_hints() -> dict:
    return {"points": [{"x": 5, "y": 20, "color": RED, "radius": 1},
                       {"x": 55, "y": 20, "color": BLUE, "radius": 1}]}


def _hue_sign(rgb8: np.ndarray) -> float:
    """> 0 where red dominates blue, < 0 where blue dominates."""
    return float(rgb8[..., 0].astype(float).mean() - rgb8[..., 2].astype(float).mean())


# --- colour space -----------------------------------------------------------------------
def test_split_compose_round_trip_and_luma_exact_when_out_of_gamut():
    rng = np.random.default_rng(0)
    rgb = rng.random((16, 16, 3)).astype(np.float32)
    y, c = split(rgb)
    back, shrunk = compose(y, c)
    np.testing.assert_allclose(back, rgb, atol=1e-5)
    assert shrunk == 0.0
    # Far too much chroma: the luma still comes out exact, the shrink is reported.
    loud, shrunk = compose(y, c * 8)
    np.testing.assert_allclose(luma(loud), y, atol=1e-5)
    assert loud.min() >= 0 and loud.max() <= 1 and shrunk > 0.5


def test_lab_matches_skimage():
    skcolor = pytest.importorskip("skimage.color")
    rgb = np.random.default_rng(1).random((8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(rgb_to_lab(rgb), skcolor.rgb2lab(rgb), atol=2e-3)
    np.testing.assert_allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-4)


# --- propagation --------------------------------------------------------------------------
def test_colour_stops_at_the_luma_edge(two_regions):
    out = colorize(two_regions, hints=_two_hints())
    assert out.dtype == np.uint8 and out.shape == (40, 60, 3)
    assert _hue_sign(out[:, 2:26]) > 20 and _hue_sign(out[:, 34:58]) < -20
    assert np.abs(_luma8(out) - two_regions).max() <= 1.0


def test_multigrid_solver_agrees_with_a_direct_solve():
    rng = np.random.default_rng(2)
    h, w = 220, 200  # above the direct-solve limit
    assert h * w > prop._DIRECT_MAX
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    y = 0.5 + 0.3 * np.sin(xx / 15) * np.cos(yy / 20)  # smooth: every pixel well connected
    conf = np.where(rng.random((h, w)) < 0.005, prop.HINT_CONFIDENCE, 0).astype(np.float32)
    targets = (rng.random((h, w, 2)).astype(np.float32) - 0.5) * 0.4
    got = prop.solve(y, targets, conf)
    system = (prop.affinity_laplacian(y) + sp.diags(conf.ravel().astype(float))).tocsc()
    want = spla.splu(system).solve(targets.reshape(-1, 2).astype(float) * conf.reshape(-1, 1))
    diff = np.abs(got.reshape(-1, 2) - want)
    assert diff.max() < 5e-3 and diff.mean() < 5e-4  # well under one 8-bit level


def test_working_resolution_and_guided_upsampling_keep_edges():
    h, w = 300, 400
    grey = np.full((h, w), 60, np.uint8)
    grey[:, 200:] = 200
    hints = {"points": [{"x": 20, "y": 150, "color": RED, "radius": 3},
                        {"x": 380, "y": 150, "color": BLUE, "radius": 3}]}
    loaded = photomend.read_image(grey)
    result = colorize_array(loaded.rgb, hints=read_hints(hints, size=(w, h)),
                            working_pixels=5_000)
    out = np.rint(result.rgb * 255)
    # Two pixels from the edge on either side the colours are already those of their side.
    assert _hue_sign(out[:, 190:198]) > 20 and _hue_sign(out[:, 202:210]) < -20


def test_nearest_hint_fill():
    known = np.zeros((5, 5), bool)
    known[0, 0] = known[4, 4] = True
    targets = np.zeros((5, 5, 2), np.float32)
    targets[0, 0], targets[4, 4] = (0.1, 0.2), (-0.1, -0.2)
    out = prop.nearest_hint_fill(targets, known)
    assert tuple(out[1, 0]) == pytest.approx((0.1, 0.2)) and tuple(out[3, 4]) == pytest.approx(
        (-0.1, -0.2))


# --- hints --------------------------------------------------------------------------------
def test_hints_image_with_alpha_and_opaque_scribbles(two_regions):
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[18:22, 3:7] = (200, 60, 40, 255)
    hints = read_hints(rgba, size=(60, 40))
    assert hints.count == 16
    np.testing.assert_allclose(hints.cbcr[20, 5], chroma(np.array([200, 60, 40]) / 255),
                               atol=1e-5)
    scribbled = np.repeat(two_regions[..., None], 3, axis=2)
    scribbled[10, 10:20] = (40, 60, 200)
    assert read_hints(scribbled, size=(60, 40)).count == 10


def test_hints_json_file_points_and_strokes(tmp_path, two_regions):
    path = tmp_path / "hints.json"
    path.write_text(json.dumps({"points": [{"x": 5, "y": 20, "color": [200, 60, 40]}],
                                "strokes": [{"points": [[50, 5], [50, 35]],
                                             "color": BLUE, "width": 3}]}))
    hints = read_hints(path, size=(60, 40))
    assert hints.weight[20, 5] == 1 and hints.weight[20, 50] == 1 and hints.count > 60
    out = colorize(two_regions, hints=path)
    assert _hue_sign(out[:, :25]) > 20 and _hue_sign(out[:, 35:]) < -20


def test_hints_of_another_size_are_scaled_with_a_warning(two_regions):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[10, 2] = (200, 60, 40, 255)
    rgba[10, 27] = (40, 60, 200, 255)
    with pytest.warns(UserWarning, match="30x20 but the photo is 60x40: hints scaled"):
        out = colorize(two_regions, hints=rgba)
    assert _hue_sign(out[:, :25]) > 20 and _hue_sign(out[:, 35:]) < -20
    with pytest.warns(UserWarning, match="canvas"):
        read_hints({"size": [120, 80], "points": [{"x": 10, "y": 10, "color": RED}]},
                   size=(60, 40))


@pytest.mark.parametrize("bad, match", [
    ({"points": [{"x": 1, "y": 1, "color": "red"}]}, "colour must be"),
    ({"points": [{"x": 1, "color": RED}]}, "malformed"),
    ({"dots": []}, "unknown keys"),
    ({"points": []}, "no colour hints"),
    (np.zeros((40, 60, 4), np.uint8), "no colour hints"),
])
def test_bad_hints(bad, match):
    with pytest.raises(HintsError, match=match):
        read_hints(bad, size=(60, 40))


def test_bad_json_bytes_and_missing_file(tmp_path):
    with pytest.raises(HintsError, match="not valid JSON"):
        read_hints(b"{oops", size=(4, 4))
    with pytest.raises(ImageReadError, match="no such file"):
        read_hints(tmp_path / "nope.json", size=(4, 4))


# --- reference ----------------------------------------------------------------------------
def test_reference_transfers_colour_by_luma(two_regions):
    ref = np.zeros((50, 50, 3), np.uint8)
    ref[:, :25] = (60, 70, 110)   # dark -> blue
    ref[:, 25:] = (230, 170, 150)  # bright -> red
    out = colorize(two_regions, reference=ref)
    assert _hue_sign(out[:, :25]) < -10 and _hue_sign(out[:, 35:]) > 10
    assert np.abs(_luma8(out) - two_regions).max() <= 1.0


def test_reference_and_hints_combine(two_regions):
    ref = np.zeros((50, 50, 3), np.uint8)
    ref[:, :25] = (60, 70, 110)
    ref[:, 25:] = (230, 170, 150)
    # A stroke down the dark half makes it red: hints win over the reference near them.
    hints = {"strokes": [{"points": [[12, 2], [12, 37]], "color": RED, "width": 3}]}
    out = colorize(two_regions, reference=ref, hints=hints)
    assert _hue_sign(out[:, 2:25]) > 10 and _hue_sign(out[:, 35:]) > 10


# --- the verb -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_returns_the_kind_it_was_given(two_regions, dtype):
    scale = {np.uint8: 1, np.uint16: 257, np.float32: 1 / 255}[dtype]
    grey = (two_regions.astype(np.float64) * scale).astype(dtype)
    before = grey.copy()
    out = colorize(grey, hints=_two_hints())
    assert out.dtype == dtype and out.shape == (40, 60, 3)
    np.testing.assert_array_equal(grey, before)  # never mutated
    y = _luma8(out.astype(np.float64) / scale)
    assert np.abs(y - two_regions).max() <= 1.0


def test_alpha_passes_through_and_pil_in_pil_out(two_regions):
    rgba = np.dstack([np.repeat(two_regions[..., None], 3, 2), np.full((40, 60), 77, np.uint8)])
    out = colorize(rgba, hints=_two_hints())
    assert out.shape == (40, 60, 4) and (out[..., 3] == 77).all()
    pil = colorize(Image.fromarray(two_regions, "L"), hints=_two_hints())
    assert isinstance(pil, Image.Image) and pil.mode == "RGB" and pil.size == (60, 40)


def test_colour_photo_is_converted_to_luma_with_a_warning(two_regions):
    colour = np.stack([two_regions, two_regions // 2, two_regions], axis=2)
    with pytest.warns(UserWarning, match="converted to luma"):
        out = colorize(colour, hints=_two_hints())
    assert np.abs(_luma8(out) - _luma8(colour)).max() <= 1.0


def test_saturation_zero_gives_the_grey_photo(two_regions):
    out = colorize(two_regions, hints=_two_hints(), saturation=0)
    assert (np.abs(out.astype(int) - two_regions[..., None]) <= 1).all()
    with pytest.raises(ColorizeError, match="saturation"):
        colorize(two_regions, hints=_two_hints(), saturation=-1)


def test_method_errors(two_regions, tmp_path):
    with pytest.raises(ColorizeError, match="needs colour hints"):
        colorize(two_regions, method="hints")
    with pytest.raises(ColorizeError, match="needs a reference"):
        colorize(two_regions, method="reference")
    with pytest.raises(ColorizeError, match="unknown colorize method"):
        colorize(two_regions, method="magic")
    with pytest.raises(ImageReadError, match="reference photo: .*no such file"):
        colorize(two_regions, reference=tmp_path / "missing.jpg")
    assert issubclass(ColorizeError, InputError)


def test_exported_from_the_package():
    assert photomend.colorize is colorize
    assert "colorize" in photomend.__all__


# --- the command line ---------------------------------------------------------------------
def test_cli_file_and_errors(tmp_path, two_regions, capsys):
    photo, hints, out = tmp_path / "photo.png", tmp_path / "hints.json", tmp_path / "out.png"
    Image.fromarray(two_regions).save(photo)
    hints.write_text(json.dumps(_two_hints()))
    assert main(["colorize", str(photo), "-o", str(out), "--hints", str(hints), "-q"]) == 0
    result = np.asarray(Image.open(out))
    assert result.shape == (40, 60, 3) and _hue_sign(result[:, :25]) > 20
    assert np.abs(_luma8(result) - two_regions).max() <= 1.0
    capsys.readouterr()
    for args, message in [
        (["--method", "hints"], "needs colour hints"),
        (["--reference", str(tmp_path / "missing.jpg")], "reference photo"),
        (["--hints", str(tmp_path / "nothing.json")], "no such file"),
    ]:
        code = main(["colorize", str(photo), "-o", str(tmp_path / "x.png"), *args])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert main(["colorize", str(photo), "-o", str(out), "--hints", str(hints)]) == 2  # exists


def test_cli_notes_colour_photo_and_scaled_hints(tmp_path, two_regions, capsys):
    photo, hints = tmp_path / "photo.png", tmp_path / "hints.png"
    Image.fromarray(np.stack([two_regions, two_regions // 2, two_regions], 2)).save(photo)
    small = np.zeros((20, 30, 4), np.uint8)
    small[10, 2] = (200, 60, 40, 255)
    Image.fromarray(small).save(hints)
    assert main(["colorize", str(photo), "-o", str(tmp_path / "o.jpg"), "--hints",
                 str(hints)]) == 0
    err = capsys.readouterr().err
    assert "converted to luma" in err and "hints scaled" in err


def test_cli_folder(tmp_path, two_regions):
    photos, hint_dir, out = tmp_path / "in", tmp_path / "hints", tmp_path / "out"
    photos.mkdir()
    hint_dir.mkdir()
    for name in ("a", "b"):
        Image.fromarray(two_regions).save(photos / f"{name}.png")
    (hint_dir / "a.json").write_text(json.dumps(_two_hints()))
    (hint_dir / "b_hints.json").write_text(json.dumps(_two_hints()))
    assert main(["colorize", str(photos), "-o", str(out), "--hints", str(hint_dir), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    (hint_dir / "b_hints.json").unlink()
    code = main(["colorize", str(photos), "-o", str(tmp_path / "out2"), "--hints",
                 str(hint_dir), "--method", "hints", "-q"])
    assert code == 2 and (tmp_path / "out2" / "a.png").exists()


def test_progress_is_reported(two_regions):
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        colorize(two_regions, hints=_two_hints(), progress=lambda *a: seen.append(a))
    assert seen[0] == ("colorize", 0, 4) and seen[-1] == ("colorize", 4, 4)


# --- numba kernels against their NumPy twins ----------------------------------------------
def test_kernels_match_their_numpy_twins():
    from photomend.colorization import kernels
    from photomend.colorization.colorspace import is_gray

    rng = np.random.default_rng(3)
    y_small = rng.random((13, 17)).astype(np.float32)
    c_small = ((rng.random((13, 17, 2)) - 0.5) * 0.4).astype(np.float32)
    y = rng.random((41, 59)).astype(np.float32)
    coef = prop.guided_coefficients(y_small, c_small)
    out = np.empty((41, 59, 3), np.float32)
    shrunk = kernels.upsample_compose(y, coef, 1.2, out)
    want, want_share = compose(y, prop.guided_upsample(y_small, c_small, y), saturation=1.2)
    np.testing.assert_allclose(out, want, atol=1e-5)
    assert shrunk / y.size == pytest.approx(want_share) and shrunk > 0
    cbcr = ((rng.random((41, 59, 2)) - 0.5) * 0.6).astype(np.float32)
    out2 = np.empty_like(out)
    shrunk2 = kernels.compose_rgb(y, cbcr, 0.8, out2)
    want2, share2 = compose(y, cbcr, saturation=0.8)
    np.testing.assert_allclose(out2, want2, atol=1e-6)
    assert shrunk2 / y.size == pytest.approx(share2)
    lum = np.empty_like(y)
    kernels.luma_of(out2, lum)
    np.testing.assert_allclose(lum, luma(out2), atol=1e-6)
    grey = np.repeat(y[..., None], 3, axis=2)
    for img in (grey, out2):
        assert kernels.has_colour(img, np.float32(1.5 / 255)) == (not is_gray(img))
