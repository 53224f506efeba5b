"""Tests of photomend.upscale: the registry, every registered model, the public verb."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import photomend
from photomend import zoo
from photomend.errors import (
    ImageTooLargeError,
    InputError,
    ModelMissingError,
    UnknownModelError,
    UnsupportedScaleError,
)
from photomend.upscaling import base
from photomend.upscaling.api import DEFAULT_UPSCALER, upscale_array
from photomend.upscaling.base import (
    Upscaler,
    UpscalerTraits,
    available_upscalers,
    check_upscaler,
    create_upscaler,
    upscaler_class,
)


def _natural(h: int = 96, w: int = 128) -> np.ndarray:
    """A crop of skimage's astronaut (real photo detail), float32 in [0, 1]."""
    import skimage.data

    return skimage.data.astronaut()[140:140 + h, 180:180 + w].astype(np.float32) / 255.0


def _builtin() -> list[tuple[str, int]]:
    """Every model that ships with photomend, at every scale (zoo models: their own tests, with
    tiny generated weights; the user's model cache is never read here)."""
    return [(name, s) for name, traits in available_upscalers().items()
            if traits.source == "builtin" for s in traits.scales]


# --- registry ----------------------------------------------------------------------------------


def test_builtin_models_registered():
    names = available_upscalers()
    assert {"bicubic", "lanczos", "compact"} <= set(names)
    assert names["compact"].scales == (2, 3, 4)
    assert upscaler_class("compact").installed_scales() == (2, 3, 4)  # shipped weights
    assert DEFAULT_UPSCALER == "compact"


def test_unknown_model_lists_names():
    with pytest.raises(UnknownModelError, match=r"unknown upscaler 'nope'; available: .*compact"):
        create_upscaler("nope")
    assert issubclass(UnknownModelError, InputError)


@pytest.mark.parametrize("scale", [5, 0, -2, 2.5, "x2"])
def test_unsupported_scale(scale):
    with pytest.raises(UnsupportedScaleError):
        check_upscaler("compact", scale)


def test_unsupported_scale_names_the_supported_ones():
    with pytest.raises(UnsupportedScaleError, match=r"'compact' cannot upscale x8; it supports "
                                                    r"x2, x3, x4"):
        photomend.upscale(np.zeros((4, 4, 3), np.uint8), 8)


@pytest.fixture
def fake_zoo_model(tmp_path, monkeypatch):
    """A zoo-backed upscaler whose weights are not installed (an empty model cache)."""
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))
    spec = zoo.register_model(zoo.ModelSpec(
        name="test-sr-x2", task="upscale", source="npm:nothing@0", license="MIT",
        filename="test-sr-x2.onnx", scale=2, fetch=lambda spec, work: work / "x",
    ))

    @base.register_upscaler
    class FakeZoo(Upscaler):
        name = "test-zoo-sr"
        traits = UpscalerTraits(description="test", scales=(2,), source="zoo")

        @classmethod
        def zoo_models(cls, scale):
            return ("test-sr-x2",)

    yield FakeZoo
    base._REGISTRY.pop("test-zoo-sr", None)
    zoo._REGISTRY.pop(spec.name, None)


def test_zoo_model_not_installed_says_the_command(fake_zoo_model):
    with pytest.raises(ModelMissingError, match=r"photomend models fetch test-sr-x2"):
        create_upscaler("test-zoo-sr", 2)
    assert fake_zoo_model.installed_scales() == ()
    assert "test-zoo-sr" not in available_upscalers(installed_only=True)
    with pytest.raises(ModelMissingError):  # and the verb refuses before reading anything
        photomend.upscale(b"not even an image", 2, model="test-zoo-sr")


def test_upscale_tile_pads_to_the_multiple_and_crops_back():
    seen = []

    class Padded(Upscaler):
        name = "test-padded"
        traits = UpscalerTraits(description="test", scales=(2,), pad_multiple=8)

        def _forward(self, rgb, scale):
            seen.append(rgb.shape)
            return rgb.repeat(scale, 0).repeat(scale, 1) * 1.5  # unclipped on purpose

    x = np.random.default_rng(0).random((13, 10, 3), dtype=np.float32)
    out = Padded().upscale_tile(x, 2)
    assert seen == [(16, 16, 3)]
    assert out.shape == (26, 20, 3) and out.dtype == np.float32
    assert out.max() <= 1.0 and np.allclose(out[::2, ::2], np.minimum(x * 1.5, 1.0))


# --- every installed model -----------------------------------------------------------------------


@pytest.mark.parametrize("name,scale", _builtin())
def test_every_builtin_model_upscales(name, scale):
    img = _natural(20, 24)
    before = img.copy()
    out = create_upscaler(name, scale).upscale_tile(img, scale)
    assert out.shape == (20 * scale, 24 * scale, 3) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert np.array_equal(img, before)  # the caller's array is untouched
    # Any upscaler reproduces a smooth picture closely (same mean colour, no shift).
    assert abs(float(out.mean()) - float(img.mean())) < 0.02


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_compact_beats_bicubic(scale):
    """Known answer: on real photo detail the trained network gains over bicubic."""
    hr = _natural(96, 96)
    hr8 = np.rint(hr * 255).astype(np.uint8)
    lr = np.asarray(Image.fromarray(hr8).resize((96 // scale,) * 2, Image.BICUBIC))
    lr = lr.astype(np.float32) / 255

    def psnr(model):
        sr = upscale_array(lr, scale, model=model)
        err = (sr - hr)[scale:-scale, scale:-scale]
        return 10 * np.log10(1 / float(np.mean(err**2)))

    gain = psnr("compact") - psnr("bicubic")
    assert gain > {2: 1.0, 3: 0.5, 4: 0.3}[scale], gain


# --- the verb -----------------------------------------------------------------------------------


def test_array_kinds_round_trip(photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)])
    rgba[:10, :10, 3] = 0
    out = photomend.upscale(rgba, 2, model="bicubic")
    assert out.shape == (96, 128, 4) and out.dtype == np.uint8
    assert out[:18, :18, 3].max() == 0 and out[40:, 40:, 3].min() == 200  # alpha upscaled too
    gray16 = (photo[:, :, 0].astype(np.uint16) * 257)
    out = photomend.upscale(gray16, 3, model="lanczos")
    assert out.shape == (144, 192) and out.dtype == np.uint16
    out = photomend.upscale(photo.astype(np.float64) / 255, 2)
    assert out.dtype == np.float32 and out.shape == (96, 128, 3)


def test_pil_and_bytes_keep_metadata(photo):
    im = Image.fromarray(photo)
    exif = Image.Exif()
    exif[0x010F] = "photomend-test"
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes(), icc_profile=b"\0" * 8)
    out = photomend.upscale(buf.getvalue(), 2, model="bicubic")
    assert isinstance(out, Image.Image) and out.size == (128, 96)
    assert b"photomend-test" in out.info["exif"]
    out = photomend.upscale(Image.fromarray(photo[:, :, 0]), 2, model="bicubic")
    assert out.mode == "L" and out.size == (128, 96)


def test_output_over_the_pixel_limit_fails_before_work(photo):
    calls = []
    with pytest.raises(ImageTooLargeError, match=r"x4 output would be 256x192 = 49,152 pixels"):
        photomend.upscale(photo, 4, max_pixels=40_000, progress=lambda *a: calls.append(a))
    assert calls == []


def test_progress_per_tile():
    calls = []
    upscale_array(_natural(40, 50), 2, tile=16, tile_pad=4,
                  progress=lambda *a: calls.append(a))
    assert calls == [("upscale", i, 12) for i in range(1, 13)]


def test_bad_tile_options():
    with pytest.raises(InputError, match="must not be negative"):
        upscale_array(_natural(8, 8), 2, tile=-1)
