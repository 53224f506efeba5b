"""photomend.restore: known answers (a drawn scratch is found and removed), input kinds, errors."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

import photomend
from photomend.errors import ImageTooSmallError, InputError, MaskError, UnknownEngineError
from photomend.restoration.detect import defect_score, detect_defects, fuse, hysteresis
from photomend.restoration.detect_learned import default_threshold, learned_probability
from photomend.restoration.pipeline import NO_DEFECTS_MESSAGE, dilate_mask, split_thin


@pytest.fixture(autouse=True)
def _models_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))


def _clean(h: int = 192, w: int = 256) -> np.ndarray:
    """A smooth, photo-like picture: soft gradients and broad shapes, no thin lines."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([0.35 + 0.3 * xx / w, 0.3 + 0.25 * yy / h,
                    0.45 + 0.12 * np.sin(xx / 23.0) * np.cos(yy / 31.0)], axis=2)
    rgb += 0.12 * np.exp(-((xx - 0.6 * w) ** 2 + (yy - 0.4 * h) ** 2) / (2 * 30.0**2))[:, :, None]
    return np.clip(rgb, 0, 1).astype(np.float32)


def _scratched(clean: np.ndarray, *, value: float, width: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``clean`` with a long curved scratch of ``value`` drawn on it, and the scratch's mask."""
    h, w = clean.shape[:2]
    t = np.linspace(0, 1, 60)
    pts = np.stack([20 + (w - 40) * t, 25 + (h - 50) * t + 18 * np.sin(5 * t)], 1)
    m = np.zeros((h, w), np.uint8)
    cv2.polylines(m, [np.round(pts).astype(np.int32)], False, 1, width)
    mask = m.astype(bool)
    scan = clean.copy()
    scan[mask] = value
    return scan, mask


def _psnr(a, b, where):
    return 10 * np.log10(1.0 / np.mean((a[where] - b[where]) ** 2))


@pytest.mark.parametrize("detector", ["learned", "classical"])
@pytest.mark.parametrize("value", [0.97, 0.05], ids=["bright", "dark"])
def test_drawn_scratch_is_found_and_removed(detector, value):
    clean = _clean()
    scan, truth = _scratched(clean, value=value)
    result = photomend.restore(scan, detector=detector)
    out, mask = result
    assert out.dtype == np.float32 and out.shape == scan.shape
    assert mask[truth].mean() > 0.9                      # the scratch was found ...
    far = ~cv2.dilate(truth.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert mask[far].mean() < 0.01                       # ... and little else
    near = cv2.dilate(truth.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert _psnr(out, clean, near) > _psnr(scan, clean, near) + 10  # ... and it is gone
    assert np.array_equal(out[~mask], scan[~mask])       # pixels outside the mask untouched


def test_clean_photo_comes_back_unchanged_with_a_note():
    clean = (_clean() * 255).astype(np.uint8)
    with pytest.warns(UserWarning, match="no defects found"):
        out, mask = photomend.restore(clean)
    assert not mask.any() and np.array_equal(out, clean)
    assert NO_DEFECTS_MESSAGE.startswith("no defects found")


@pytest.mark.parametrize("detector", ["learned", "classical"])
@pytest.mark.parametrize("kind", ["gray8", "rgb16", "rgba8", "la16", "float_rgb"])
def test_dtypes_and_channels_round_trip(kind, detector):
    scan, truth = _scratched(_clean(), value=0.97)
    gray = scan.mean(axis=2)
    alpha = np.linspace(0.2, 1.0, scan.shape[1], dtype=np.float32)[None].repeat(scan.shape[0], 0)
    img = {
        "gray8": (gray * 255).astype(np.uint8),
        "rgb16": (scan * 65535).astype(np.uint16),
        "rgba8": (np.dstack([scan, alpha]) * 255).astype(np.uint8),
        "la16": (np.dstack([gray, alpha]) * 65535).astype(np.uint16),
        "float_rgb": scan.astype(np.float64),
    }[kind]
    before = img.copy()
    out, mask = photomend.restore(img, detector=detector)
    assert np.array_equal(img, before)                   # the caller's array is not modified
    assert out.shape == img.shape
    assert out.dtype == (np.float32 if kind == "float_rgb" else img.dtype)
    assert mask[truth].mean() > 0.9
    if kind in ("rgba8", "la16"):
        assert np.array_equal(out[:, :, -1], img[:, :, -1])  # alpha passed through


def test_pil_and_path_inputs(tmp_path):
    scan, truth = _scratched(_clean(), value=0.05)
    pil = Image.fromarray((scan * 255).astype(np.uint8))
    out, mask = photomend.restore(pil, detector="classical")
    assert isinstance(out, Image.Image) and out.size == pil.size and mask[truth].mean() > 0.9
    path = tmp_path / "scan.png"
    pil.save(path)
    out2, mask2 = photomend.restore(str(path), detector="classical")
    assert isinstance(out2, Image.Image) and np.array_equal(mask, mask2)


def test_extra_mask_is_filled_too():
    clean = _clean()
    scan = clean.copy()
    scan[60:70, 100:110] = [0.9, 0.1, 0.1]  # a red square no detector calls a defect
    extra = np.zeros(scan.shape[:2], bool)
    extra[58:72, 98:112] = True
    out, mask = photomend.restore(scan, detector="classical", extra_mask=extra)
    assert mask[extra].all()
    assert np.abs(out[60:70, 100:110] - clean[60:70, 100:110]).max() < 0.1
    with pytest.raises(MaskError):
        photomend.restore(scan, extra_mask=np.zeros((10, 10), bool))


def test_threshold_controls_how_much_is_found():
    scan, _ = _scratched(_clean(), value=0.6)  # a faint scratch
    low = detect_defects(scan, detector="learned", threshold=0.05).mean()
    high = detect_defects(scan, detector="learned", threshold=0.95).mean()
    assert low > high


@pytest.mark.parametrize("bad, error", [
    (dict(detector="magic"), UnknownEngineError),
    (dict(threshold=1.5), InputError),
    (dict(threshold=0.0), InputError),
])
def test_invalid_options(bad, error):
    with pytest.raises(error):
        photomend.restore(_clean(), **bad)


def test_defects_everywhere_give_a_clear_error():
    noise = (np.random.default_rng(0).random((80, 90)) * 255).astype(np.uint8)  # not a photo
    with pytest.raises(MaskError, match="too little to copy from.*other detector"):
        photomend.restore(noise, detector="learned")


@pytest.mark.parametrize("shape", [(40, 200, 3), (200, 63), (1, 1, 3)])
def test_tiny_images_are_refused(shape):
    with pytest.raises(ImageTooSmallError, match="at least 64 px"):
        photomend.restore(np.zeros(shape, np.uint8))


def test_unreadable_input(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError):
        photomend.restore(str(bad))


def test_tiles_and_flip_make_no_seams():
    scan, _ = _scratched(_clean(200, 232), value=0.97)
    whole = learned_probability(scan, tile=1024)
    tiled = learned_probability(scan, tile=64)
    assert np.abs(whole - tiled).max() < 0.05
    plain = learned_probability(scan, tta=False)
    assert plain.shape == whole.shape and 0 < default_threshold() < 1


def test_large_scans_are_detected_at_working_size():
    clean = cv2.resize(_clean(), (1536, 1152), interpolation=cv2.INTER_CUBIC)
    scan, truth = _scratched(clean, value=0.05, width=3)
    score, _, _ = defect_score(scan, detector="classical")
    assert max(score.shape) == 1024
    mask = detect_defects(scan, detector="classical")
    assert mask.shape == truth.shape
    near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert near[truth].mean() > 0.9  # found within 1 px at full size


def test_small_scans_are_enlarged_for_the_learned_detector():
    scan, truth = _scratched(_clean(), value=0.97, width=1)  # 256 px long side, a hairline
    score, _, _ = defect_score(scan, detector="learned")
    assert score.shape == (384, 512)  # enlarged 2x, the most (768 px would be 3x)
    assert defect_score(scan, detector="classical")[0].shape == truth.shape
    mask = detect_defects(scan, detector="learned")
    assert mask.shape == truth.shape
    assert mask[truth].mean() > 0.9  # a 1-px line survives the way back
    far = ~cv2.dilate(truth.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert mask[far].mean() < 0.01


def test_dilate_and_split_thin():
    m = np.zeros((100, 100), bool)
    m[50, 10:90] = True           # a hairline: thin
    m[10:40, 10:40] = True        # a torn corner: thick
    grown = dilate_mask(m)
    assert grown[52, 50] and not grown[54, 50]
    thin, thick = split_thin(grown)
    assert thin[50, 50] and not thick[50, 50] and thick[20, 20] and not thin[20, 20]


def test_upscale_and_colorize_after_repair():
    scan, truth = _scratched(_clean(96, 128), value=0.97)
    out, mask = photomend.restore(scan, detector="classical", upscale=2)
    assert out.shape == (192, 256, 3) and mask.shape == (96, 128)
    hints = {"points": [{"x": 20, "y": 20, "color": "#c03020", "radius": 3}]}
    gray = np.repeat(scan.mean(axis=2, keepdims=True), 3, axis=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, _ = photomend.restore(gray, detector="classical",
                                   colorize={"method": "hints", "hints": hints})
    assert out[20, 20, 0] > out[20, 20, 2]  # reddish where the hint is


def test_hysteresis_keeps_a_connected_faint_scratch_and_drops_an_isolated_weak_blob():
    score = np.zeros((64, 96), np.float32)
    score[20, 5:90] = 0.6                 # a faint scratch ...
    score[20, 40:50] = 0.95               # ... clear in one stretch
    score[45:48, 30:33] = 0.6             # an isolated weak blob
    kept = hysteresis(score, 0.5, 0.9) > 0.5
    assert kept[20, 5:90].all()           # the whole scratch, faint parts included
    assert not kept[45:48, 30:33].any()   # the blob is gone
    assert np.array_equal(hysteresis(score, 0.5, 0.5), score)  # no margin: plain threshold


def test_fuse_adds_only_the_classical_detections_the_network_supports():
    prob = np.full((8, 8), 0.1, np.float32)
    prob[2, :] = 0.6                      # a faint scratch the network half sees
    prob[6, 6] = 0.97                     # a defect the network is sure of
    classical = np.zeros((8, 8), np.float32)
    classical[2, :] = 0.8                 # the line filters see the scratch ...
    classical[4, :] = 0.8                 # ... and a real edge the network does not support
    fused = fuse(prob, classical, 0.4)
    mask = fused > 0.9
    assert mask[2].all() and mask[6, 6] and not mask[4].any()
    assert fused.dtype == np.float32 and np.array_equal(fused[prob < 0.4], prob[prob < 0.4])


@pytest.mark.parametrize("paper", [0.93, 0.04], ids=["white", "black"])
def test_torn_corner_is_found_and_filled_by_the_learned_detector(paper):
    from photomend.restoration.detect_tears import corner_tears

    clean = _clean(256, 320)
    scan = clean.copy()
    tear = np.zeros((256, 320), np.uint8)
    rng = np.random.default_rng(3)
    t = np.linspace(0, 1, 30)[:, None]
    edge = (1 - t) * [230, 0] + t * [319, 70] + rng.normal(0, 2.0, (30, 2))  # x, y: jagged
    poly = np.vstack([[319, 0], edge, [319, 70]])  # the top-right corner, torn off
    cv2.fillPoly(tear, [np.round(poly).astype(np.int32)], 1)
    truth = tear.astype(bool)
    scan[truth] = paper
    found = corner_tears(scan)
    assert found[truth].mean() > 0.9 and found[~truth].mean() < 0.001
    assert not corner_tears(clean).any()  # smooth gradients in the corners are not tears
    flat = np.full((128, 128, 3), 0.95, np.float32)  # a uniform background spans the scan:
    assert not corner_tears(flat).any()  # not a torn corner
    out, mask = photomend.restore(scan, detector="learned")
    assert mask[truth].mean() > 0.95
    assert _psnr(out, clean, truth) > _psnr(scan, clean, truth) + 10


def _tiny_model(path, channels: int, meta: dict) -> None:
    """A stand-in ONNX model: logits = 12 * (last input channel) - 6, with metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((1, channels, 1, 1), np.float32)
    w[0, -1] = 12.0
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["logits"])], "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", channels, "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 1, "h", "w"])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([-6.0], np.float32),
                                                                   "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(model, str(path))


def test_six_channel_model_reads_the_classical_score(tmp_path):
    from photomend.restoration.detect_classical import classical_score
    from photomend.restoration.detect_learned import classical_support, input_channels

    scan, truth = _scratched(_clean(), value=0.97)
    six, five = tmp_path / "six.onnx", tmp_path / "five.onnx"
    _tiny_model(six, 6, {"threshold": "0.9", "support": "0.40"})
    _tiny_model(five, 5, {"support": "none"})
    assert input_channels(six) == 6 and input_channels(five) == 5
    assert classical_support(six) == 0.4 and classical_support(five) is None
    assert default_threshold(six) == 0.9 and default_threshold(five) == 0.5  # missing: default
    prob = learned_probability(scan, model=six)      # the last channel is the classical score
    expected = 1 / (1 + np.exp(-(12 * classical_score(scan) - 6)))
    assert np.abs(prob - expected).max() < 1e-3
    assert prob[truth].mean() > 0.5 > prob[~truth].mean()


def test_upscale_takes_the_scan_upscaler(monkeypatch):
    """restore(upscale=N) upscales with upscaling.api.scan_upscaler's choice (SRMD once
    installed), not always the default model."""
    from photomend.upscaling import api

    asked = []

    def pick(scale):
        asked.append(scale)
        return "bicubic"

    scan, _ = _scratched(_clean(96, 128), value=0.97)
    restored, _ = photomend.restore(scan, detector="classical")
    monkeypatch.setattr(api, "scan_upscaler", pick)
    out, _ = photomend.restore(scan, detector="classical", upscale=2)
    assert set(asked) == {2}
    np.testing.assert_allclose(out, photomend.upscale(restored, 2, model="bicubic"), atol=1e-5)


def _photo(h: int = 384, w: int = 512) -> np.ndarray:
    """scikit-image's coffee photo (real texture and edges) at ``w`` x ``h``."""
    from skimage import data

    return cv2.resize(data.coffee(), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


# Issue 21's known answers that the detector does not give yet: drawn by code unlike any
# training generator, both are found only in part (session 12, shipped detector: crease 0.75,
# thick scratch 0.51 of the pixels within the filled mask). strict: they fail once they pass.
KNOWN_GAP = pytest.mark.xfail(strict=True, reason="issue 21: wide creases and thick dark "
                              "scratches of an unseen generator are found only in part")


@KNOWN_GAP
def test_a_wide_fold_crease_across_the_photo_is_found_and_filled():
    """A straight 6-px crease crossing the whole photo, a highlight on one side and a shadow
    on the other (the damage the issue's new user saw the detector miss)."""
    clean = _photo()
    h, w = clean.shape[:2]
    light, dark = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    cv2.line(light, (0, 60), (w - 1, 300), 1, 3)
    cv2.line(dark, (0, 64), (w - 1, 304), 1, 3)
    truth = (light | dark).astype(bool)
    scan = clean.copy()
    scan[light.astype(bool)] = np.clip(clean[light.astype(bool)] * 0.4 + 0.6, 0, 1)
    scan[dark.astype(bool) & ~light.astype(bool)] *= 0.35
    out, mask = photomend.restore(scan)
    assert mask[truth].mean() > 0.9
    assert _psnr(out, clean, truth) > _psnr(scan, clean, truth) + 6


@KNOWN_GAP
def test_a_thick_dark_curved_scratch_is_found_and_filled():
    clean = _photo()
    h, w = clean.shape[:2]
    t = np.linspace(0, 1, 80)
    pts = np.stack([40 + (w - 80) * t, 300 - 220 * t + 40 * np.sin(6 * t)], 1)
    m = np.zeros((h, w), np.uint8)
    cv2.polylines(m, [np.round(pts).astype(np.int32)], False, 1, 5, cv2.LINE_AA)
    truth = m.astype(bool)
    scan = clean.copy()
    scan[truth] = 0.06
    out, mask = photomend.restore(scan)
    assert mask[truth].mean() > 0.9
    far = ~cv2.dilate(m, np.ones((15, 15), np.uint8)).astype(bool)
    assert mask[far].mean() < 0.02
    assert _psnr(out, clean, truth) > _psnr(scan, clean, truth) + 8


def test_the_missed_stretch_of_a_scratch_is_not_drawn_on_through_its_fill():
    """A bright scratch whose middle alone was found: the thick fill must not continue the
    rest of the scratch into the hole (PatchMatch's line guidance would: 0.95 there)."""
    from photomend.restoration.pipeline import repair

    rng = np.random.default_rng(0)
    base = cv2.resize(rng.random((32, 32, 3), dtype=np.float32), (256, 256),
                      interpolation=cv2.INTER_CUBIC)
    img = np.clip(0.35 + 0.2 * base + 0.03 * rng.standard_normal((256, 256, 3)), 0, 1)
    img = img.astype(np.float32)
    img[:, 127:130] = 0.95
    hole = np.zeros((256, 256), bool)
    hole[80:180, 116:141] = True
    out = repair(img, hole)
    assert out[85:175, 127:130].mean() < img[85:175, 100:110].mean() + 0.15


@pytest.mark.parametrize("with_thin", [False, True])
def test_repair_never_writes_into_the_callers_array(with_thin):
    """The thick fill writes into restore's own Telea result when there is one (one full-size
    copy less), never into the array it was given, whether or not thin defects came first;
    both ways the result fills every defect."""
    from photomend.restoration.pipeline import repair

    rgb = np.random.default_rng(5).random((600, 1800, 3), dtype=np.float32)  # > 1 MP: crops
    mask = np.zeros(rgb.shape[:2], bool)
    mask[100:160, 200:260] = True  # thick
    mask[400:420, 1500:1560] = True  # thick
    if with_thin:
        mask[300, 100:1700] = True  # a one-pixel scratch: Telea
    rgb[mask] = 1.0
    before = rgb.copy()
    out = repair(rgb, mask)
    assert np.array_equal(rgb, before)
    assert not np.shares_memory(out, rgb)
    assert (out[mask] < 0.999).any(axis=1).mean() > 0.99  # every defect refilled


@pytest.mark.parametrize("with_thin", [False, True])
def test_repair_in_place_fills_the_given_array_with_the_same_pixels(with_thin):
    """``in_place=True`` (the command line's decoded scan): the same repair, written into the
    given array instead of a full-size copy."""
    from photomend.restoration.pipeline import repair

    rgb = np.random.default_rng(6).random((600, 1800, 3), dtype=np.float32)  # > 1 MP: crops
    mask = np.zeros(rgb.shape[:2], bool)
    mask[100:160, 200:260] = True  # thick
    if with_thin:
        mask[300, 100:1700] = True  # thin: Telea first
    before = rgb.copy()
    expected = repair(rgb, mask)
    out = repair(rgb, mask, in_place=True)
    assert out is rgb
    assert np.array_equal(out, expected)
    assert not np.array_equal(out[mask], before[mask])  # (filled)
