"""Tests of photomend.io: decoding, metadata, masks, limits and atomic writing."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from photomend.errors import ImageReadError, ImageTooLargeError, InputError, MaskError, OutputError
from photomend.io import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    encode_image,
    read_image,
    read_mask,
    resize_mask,
    to_uint8,
    write_image,
)

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(**tags: object) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhotomendTestCam"  # Make
    for tag, value in tags.items():
        exif[int(tag.lstrip("t"), 16)] = value
    return exif


def _quadrants(h: int = 40, w: int = 60) -> np.ndarray:
    """Red, green / blue, white quadrants: layout survives JPEG and shows any rotation."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (255, 0, 0)
    a[: h // 2, w // 2 :] = (0, 255, 0)
    a[h // 2 :, : w // 2] = (0, 0, 255)
    a[h // 2 :, w // 2 :] = (255, 255, 255)
    return a


def _save(arr: np.ndarray, path: Path, **params: object) -> Path:
    Image.fromarray(arr).save(path, **params)
    return path


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


# --- reading -----------------------------------------------------------------------------------


def test_exif_orientation_6_rotates_jpeg_clockwise(tmp_path):
    path = _save(_quadrants(), tmp_path / "o6.jpg", exif=_exif(t0112=6), quality=95)
    img = read_image(path)
    assert img.size == (40, 60)  # width and height swapped

    def colour(y: int, x: int) -> tuple[int, ...]:
        return tuple(np.round(img.rgb[y, x]).astype(int))

    # Stored top-left (red) is shown top-right; stored bottom-left (blue) top-left.
    assert colour(5, 35) == (1, 0, 0)
    assert colour(5, 5) == (0, 0, 1)
    assert colour(55, 5) == (1, 1, 1)
    assert colour(55, 35) == (0, 1, 0)
    exif = Image.Exif()
    exif.load(img.exif)
    assert exif[0x0112] == 1 and exif[0x010F] == "PhotomendTestCam"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow_exif_transpose(tmp_path, orientation, photo):
    path = _save(photo, tmp_path / "o.png", exif=_exif(t0112=orientation))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    np.testing.assert_array_equal(to_uint8(read_image(path).rgb), expected)


def test_orientation_applied_to_masks(tmp_path):
    stored = np.zeros((20, 30), np.uint8)
    stored[:5, :5] = 255  # top-left corner
    path = _save(stored, tmp_path / "m.png", exif=_exif(t0112=6))
    mask = read_mask(path, size=(20, 30))
    assert mask[:5, -5:].all() and mask.sum() == 25  # now top-right


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_icc_profile_and_exif_round_trip(tmp_path, photo, suffix):
    src = _save(photo, tmp_path / f"in{suffix}", icc_profile=SRGB, exif=_exif().tobytes())
    img = read_image(src)
    assert img.icc_profile == SRGB
    out = write_image(img, tmp_path / f"out{suffix}")
    back = Image.open(out)
    assert back.info.get("icc_profile") == SRGB
    if suffix != ".tif":  # Pillow keeps TIFF EXIF in the IFD, not as an EXIF block
        assert img.exif is not None
        assert back.getexif()[0x010F] == "PhotomendTestCam"


def test_exif_orientation_reset_in_written_file(tmp_path):
    src = _save(_quadrants(), tmp_path / "in.jpg", exif=_exif(t0112=8))
    out = write_image(read_image(src), tmp_path / "out.jpg")
    assert Image.open(out).getexif()[0x0112] == 1
    assert Image.open(out).size == (40, 60)


def test_png_rgba_alpha_preserved_exactly(tmp_path, photo):
    alpha = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    src = _save(np.dstack([photo, alpha]), tmp_path / "in.png")
    img = read_image(src)
    assert img.alpha is not None and img.alpha.shape == (48, 64)
    out = write_image(img, tmp_path / "out.png")
    back = np.asarray(Image.open(out))
    np.testing.assert_array_equal(back[..., 3], alpha)
    np.testing.assert_array_equal(back[..., :3], photo)


def test_jpeg_output_drops_alpha_with_warning(tmp_path, photo):
    img = read_image(np.dstack([photo, np.full((48, 64), 128, np.uint8)]))
    with pytest.warns(UserWarning, match="no alpha"):
        out = write_image(img, tmp_path / "out.jpg")
    assert Image.open(out).mode == "RGB"


def _rgb16(h: int = 24, w: int = 32) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 65536, (h, w, 3), dtype=np.uint16)  # values no 8-bit file can hold


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_read_and_written_at_full_precision(tmp_path, suffix):
    rgb16 = _rgb16()
    src = tmp_path / f"in{suffix}"
    cv2.imwrite(str(src), rgb16[:, :, ::-1])  # OpenCV writes BGR
    img = read_image(src)
    assert img.bit_depth == 16
    np.testing.assert_array_equal(np.rint(img.rgb * 65535).astype(np.uint16), rgb16)
    out = write_image(img, tmp_path / f"out{suffix}")
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back[:, :, ::-1], rgb16)


def test_16bit_png_keeps_alpha_icc_and_exif(tmp_path):
    rgba16 = np.dstack([_rgb16(), np.full((24, 32), 12345, np.uint16)])
    loaded = read_image(rgba16)
    img = LoadedImage(loaded.rgb, loaded.alpha, 16, icc_profile=SRGB, exif=_exif().tobytes())
    data = encode_image(img, "PNG")
    back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(back[:, :, 3], 12345)
    pil = Image.open(io.BytesIO(data))
    assert pil.info["icc_profile"] == SRGB
    assert pil.getexif()[0x010F] == "PhotomendTestCam"


def test_16bit_tiff_warns_that_icc_is_dropped():
    img = LoadedImage(np.zeros((4, 4, 3), np.float32), bit_depth=16, icc_profile=SRGB)
    with pytest.warns(UserWarning, match="ICC"):
        data = encode_image(img, "TIFF")
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_16bit_gray_png(tmp_path):
    gray = np.linspace(0, 65535, 20 * 30).reshape(20, 30).astype(np.uint16)
    src = tmp_path / "g.png"
    cv2.imwrite(str(src), gray)
    img = read_image(src)
    assert img.bit_depth == 16 and img.rgb.shape == (20, 30, 3)
    np.testing.assert_array_equal(np.rint(img.rgb[..., 1] * 65535).astype(np.uint16), gray)


@pytest.mark.parametrize(
    "mode", ["L", "1", "P", "LA", "CMYK", "RGBA", "PA"],
)
def test_pillow_modes_decode_to_rgb(tmp_path, photo, mode):
    im = Image.fromarray(photo).convert(mode)
    img = read_image(im)
    assert img.rgb.shape == (48, 64, 3) and img.rgb.dtype == np.float32
    assert (img.alpha is not None) == (mode in ("LA", "RGBA", "PA"))


def test_palette_with_transparency_gives_alpha(tmp_path):
    im = Image.new("P", (8, 6), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.putpixel((2, 2), 1)
    im.info["transparency"] = 0
    path = tmp_path / "p.png"
    im.save(path, transparency=0)
    img = read_image(path)
    assert img.alpha is not None and img.alpha[2, 2] == 1 and img.alpha.sum() == 1


@pytest.mark.parametrize(
    ("array", "bit_depth"),
    [
        (np.full((4, 5, 3), 255, np.uint8), 8),
        (np.full((4, 5), 65535, np.uint16), 16),
        (np.ones((4, 5, 3), np.float64), 16),
        (np.full((4, 5, 4), 255, np.uint8), 8),
    ],
)
def test_arrays_of_each_dtype_and_layout(array, bit_depth):
    before = array.copy()
    img = read_image(array)
    assert img.rgb.shape == (4, 5, 3) and img.rgb.dtype == np.float32
    assert np.allclose(img.rgb, 1.0) and img.bit_depth == bit_depth
    img.rgb[:] = 0  # our copy, not the caller's
    np.testing.assert_array_equal(array, before)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 5, 5), np.uint8), np.zeros((4,), np.uint8), np.zeros((4, 5), np.int64),
     np.full((4, 5), np.nan), np.zeros((4, 5), bool)],
)
def test_invalid_arrays(bad):
    with pytest.raises(InputError):
        read_image(bad)


def test_unsupported_source_type():
    with pytest.raises(InputError, match="expected a path"):
        read_image(12345)  # type: ignore[arg-type]


def _assert_one_line(exc: pytest.ExceptionInfo, *needles: str) -> None:
    text = str(exc.value)
    assert "\n" not in text
    for needle in needles:
        assert needle in text


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError) as exc:
        read_image(tmp_path / "nope.jpg")
    _assert_one_line(exc, "nope.jpg", "no such file")


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageReadError) as exc:
        read_image(tmp_path)
    _assert_one_line(exc, "folder")


@pytest.mark.parametrize("content", [b"", b"hello, I am text\n" * 10])
def test_non_image_file(tmp_path, content):
    path = tmp_path / "notes.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as exc:
        read_image(path)
    _assert_one_line(exc, "notes.png")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_file(tmp_path, photo, suffix):
    good = _save(photo, tmp_path / f"good{suffix}")
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ImageReadError) as exc:
        read_image(bad)
    _assert_one_line(exc, f"bad{suffix}")


def test_corrupt_bytes():
    with pytest.raises(ImageReadError, match="image data"):
        read_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def test_pixel_limit_checked_before_decoding(tmp_path, photo, monkeypatch):
    path = _save(photo, tmp_path / "p.png")
    with pytest.raises(ImageTooLargeError) as exc:
        read_image(path, max_pixels=1000)
    _assert_one_line(exc, "64x48", "3,072", "1,000")
    monkeypatch.setenv("PHOTOMEND_MAX_PIXELS", "1000")
    with pytest.raises(ImageTooLargeError):
        read_image(path)
    with pytest.raises(ImageTooLargeError):
        read_mask(path, size=(64, 48))
    with pytest.raises(ImageTooLargeError):
        read_image(photo)  # arrays are checked too
    monkeypatch.setenv("PHOTOMEND_MAX_PIXELS", "lots")
    with pytest.raises(InputError, match="PHOTOMEND_MAX_PIXELS"):
        read_image(path)
    assert DEFAULT_MAX_PIXELS == 200_000_000


def test_pillow_bomb_guard_never_leaks(tmp_path, photo, monkeypatch):
    path = _save(photo, tmp_path / "p.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # far below 64x48
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(path, max_pixels=10_000).size == (64, 48)


# --- masks -------------------------------------------------------------------------------------


def _stroke(h: int = 48, w: int = 64) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[10:20, 30:40] = True
    return m


@pytest.mark.parametrize("layout", ["L", "RGB", "RGBA-alpha", "RGBA-opaque", "LA", "bool", "float"])
def test_mask_sources(tmp_path, layout):
    m = _stroke()
    u8 = m.astype(np.uint8) * 255
    if layout == "L":
        source = _save(u8, tmp_path / "m.png")
    elif layout == "RGB":
        rgb = np.zeros((48, 64, 3), np.uint8)
        rgb[m, 0] = 3  # any non-zero colour counts
        source = _save(rgb, tmp_path / "m.png")
    elif layout == "RGBA-alpha":  # strokes on a transparent layer; colour is irrelevant
        source = _save(np.dstack([np.full((48, 64, 3), 255, np.uint8), u8]), tmp_path / "m.png")
    elif layout == "RGBA-opaque":  # fully opaque: the colour channels decide
        source = _save(np.dstack([np.repeat(u8[..., None], 3, 2), np.full_like(u8, 255)]),
                       tmp_path / "m.png")
    elif layout == "LA":
        source = Image.fromarray(np.dstack([np.zeros_like(u8), u8]), "LA")
    elif layout == "bool":
        source = m.copy()
    else:
        source = m.astype(np.float32) * 0.5
    np.testing.assert_array_equal(read_mask(source, size=(64, 48)), m)


def test_mask_size_mismatch_is_clear_error():
    with pytest.raises(MaskError) as exc:
        read_mask(np.zeros((80, 100), np.uint8), size=(200, 160))
    _assert_one_line(exc, "mask is 100x80 but the image is 200x160 (width x height)",
                     "--resize-mask")


def test_mask_resize_keeps_thin_strokes():
    m = np.zeros((400, 600), bool)
    m[200, :] = True  # one pixel thick, would vanish under a nearest-neighbour 1/4 downscale
    small = read_mask(m, size=(150, 100), resize=True)
    assert small.shape == (100, 150) and small[50].all() and small.sum() == 150
    big = resize_mask(np.eye(4, dtype=bool), (8, 8))
    assert big.sum() == 16 and big[::2, ::2].diagonal().all()


def test_unreadable_mask_names_the_mask(tmp_path):
    with pytest.raises(ImageReadError, match="mask"):
        read_mask(tmp_path / "gone.png", size=(4, 4))


# --- writing -----------------------------------------------------------------------------------


def test_unknown_extension(tmp_path, photo):
    with pytest.raises(OutputError, match=r"\.bmp"):
        write_image(read_image(photo), tmp_path / "out.bmp")
    assert list(tmp_path.iterdir()) == []


def test_existing_file_needs_overwrite(tmp_path, photo):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    with pytest.raises(OutputError, match="already exists"):
        write_image(read_image(photo), out)
    assert out.read_bytes() == b"old"
    write_image(read_image(photo), out, overwrite=True)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), photo)
    assert _no_temp_files(tmp_path)


def test_protected_input_refused_even_with_overwrite(tmp_path, photo):
    src = _save(photo, tmp_path / "in.png")
    with pytest.raises(OutputError, match="inputs"):
        write_image(read_image(src), tmp_path / "." / "in.png", overwrite=True, protect=[src])


@pytest.mark.parametrize("where", ["missing", "under-a-file"])
def test_unwritable_folder(tmp_path, photo, where):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    parent = tmp_path / "no" / "such" if where == "missing" else blocker
    with pytest.raises(OutputError) as exc:
        write_image(read_image(photo), parent / "out.png")
    _assert_one_line(exc, "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_failed_write_leaves_no_temp_file(tmp_path, photo, monkeypatch):
    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", disk_full)  # the no-overwrite path falls back to replace
    monkeypatch.setattr(os, "replace", disk_full)
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="No space left"):
            write_image(read_image(photo), tmp_path / "out.png", overwrite=overwrite)
        assert list(tmp_path.iterdir()) == []


def test_written_file_gets_normal_permissions(tmp_path, photo):
    out = write_image(read_image(photo), tmp_path / "out.png")
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("fmt", ["JPEG", "jpg", "PNG", "WEBP", ".tiff"])
def test_encode_image_to_bytes(photo, fmt):
    data = encode_image(read_image(photo), fmt, quality=90)
    back = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    assert back.shape == photo.shape and np.abs(back - photo).mean() < 8


def test_encode_image_rejects_unknown_format_and_quality(photo):
    with pytest.raises(OutputError):
        encode_image(read_image(photo), "GIF")
    with pytest.raises(InputError):
        encode_image(read_image(photo), "JPEG", quality=0)


def test_with_rgb_returns_new_image_and_checks_shape(photo):
    img = read_image(np.dstack([photo, np.full((48, 64), 9, np.uint8)]))
    new = img.with_rgb(np.zeros((48, 64, 3)))
    assert isinstance(new, LoadedImage) and new.rgb.dtype == np.float32 and new.alpha is img.alpha
    assert img.rgb.max() > 0
    with pytest.raises(ValueError):
        img.with_rgb(np.zeros((10, 10, 3)))


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_compression_level_is_lossless_and_sized(photo, bits, fmt):
    """PNG's zlib level (TIFF: 0 uncompressed, else LZW) changes the size, never the pixels."""
    rng = np.random.default_rng(0)
    smooth = cv2.GaussianBlur(rng.random((96, 128, 3)).astype(np.float32), (0, 0), 4)
    img = read_image(smooth if bits == 16 else to_uint8(smooth))
    sizes = {}
    for level in (0, 1, 9):
        data = encode_image(img, fmt, compression=level)
        back = read_image(data)
        assert back.bit_depth == bits
        np.testing.assert_array_equal(back.rgb, read_image(encode_image(img, fmt)).rgb)
        sizes[level] = len(data)
    assert sizes[0] > sizes[1] >= sizes[9]
    with pytest.raises(InputError, match="compression"):
        encode_image(img, fmt, compression=10)


def _lying_png(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` x ``height`` pixels, with no pixel data behind it."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width,height", [(15_000, 15_000), (30_000, 30_000)])
def test_one_pixel_limit_message_even_past_pillows_guard(width, height):
    """Just over the limit (our check) and past twice it (Pillow's own bomb guard fires first):
    the same words, naming our limit and how to raise it, never Pillow's number."""
    with pytest.raises(ImageTooLargeError) as exc:
        read_image(_lying_png(width, height))
    message = str(exc.value)
    assert f"{width * height:,} pixels, over the limit of 200,000,000 pixels" in message
    assert "--max-pixels N, max_pixels=N or $PHOTOMEND_MAX_PIXELS" in message
    assert "400000000" not in message and "decompression bomb DOS" not in message
    assert exc.value.core in message and exc.value.limit == 200_000_000


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_uint8_rounds_like_rint_of_clip(dtype):
    rng = np.random.default_rng(0)
    a = (rng.random((60, 70, 3)) * 1.4 - 0.2).astype(dtype)
    a.flat[:256] = (np.arange(256) + 0.5) / 255.0  # ties
    expected = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    np.testing.assert_array_equal(to_uint8(a), expected)
