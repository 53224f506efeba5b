"""Tests of ``photomend upscale``: files, folders, metadata, and every bad input -> exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from photomend.cli import main

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture
def image(tmp_path, photo) -> Path:
    path = tmp_path / "in" / "photo.jpg"
    path.parent.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "photomend-test"
    Image.fromarray(photo).save(path, quality=95, exif=exif.tobytes(), icc_profile=_SRGB)
    return path


def _error_line(capsys, *needles: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("photomend: error: "), err
    for needle in needles:
        assert needle in err[0], err


def test_one_file_each_scale(image, tmp_path, capsys):
    for scale in (2, 3, 4):
        out = tmp_path / f"x{scale}.png"
        assert main(["upscale", str(image), "-s", str(scale), "-o", str(out)]) == 0
        with Image.open(out) as im:
            assert im.size == (64 * scale, 48 * scale)
        assert f"wrote {out} ({64 * scale}x{48 * scale}, x{scale} compact" in capsys.readouterr().out


def test_metadata_kept(image, tmp_path):
    out = tmp_path / "out.jpg"
    assert main(["upscale", str(image), "-o", str(out), "--model", "lanczos", "-q"]) == 0
    with Image.open(out) as im:
        assert b"photomend-test" in im.info["exif"]
        assert im.info.get("icc_profile") == _SRGB


def test_alpha_png(tmp_path, photo):
    src = tmp_path / "rgba.png"
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:, :32, 3] = 0
    Image.fromarray(rgba).save(src)
    out = tmp_path / "out.png"
    assert main(["upscale", str(src), "-s", "2", "-o", str(out), "-q", "--tile", "16"]) == 0
    a = np.asarray(Image.open(out))
    assert a.shape == (96, 128, 4) and a[:, :60, 3].max() == 0 and a[:, 68:, 3].min() == 255


def test_folder(tmp_path, photo, capsys):
    src = tmp_path / "photos"
    src.mkdir()
    for name in ("a.png", "b.jpg"):
        Image.fromarray(photo).save(src / name)
    (src / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "big"
    code = main(["upscale", str(src), "-s", "2", "-o", str(out), "--model", "bicubic"])
    assert code == 2  # one broken file: the others are still written
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg"]
    assert "processed 2 of 3 images" in capsys.readouterr().out


def test_list_models(capsys):
    assert main(["upscale", "--list-models"]) == 0
    out = capsys.readouterr().out
    assert "compact" in out and "bicubic" in out and "x2, x3, x4" in out


@pytest.mark.parametrize("args,needle", [
    (["--model", "nope"], "unknown upscaler 'nope'; available: "),
    (["-s", "5"], "cannot upscale x5; it supports x2, x3, x4"),
    (["-s", "4", "--max-pixels", "40000"], "x4 output would be 256x192 = 49,152 pixels"),
    (["--overwrite", "--tile", "16", "-o", "out.gif"], "out.gif"),
])
def test_bad_input_exit_2(image, tmp_path, capsys, args, needle):
    if "-o" not in args:
        args = [*args, "-o", str(tmp_path / "out.png")]
    else:
        args = [a if a != "out.gif" else str(tmp_path / "out.gif") for a in args]
    assert main(["upscale", str(image), *args]) == 2
    _error_line(capsys, needle)
    assert not (tmp_path / "out.png").exists()


def test_missing_arguments_and_files(tmp_path, capsys):
    assert main(["upscale", str(tmp_path / "nothing.jpg"), "-o", str(tmp_path / "o.jpg")]) == 2
    _error_line(capsys, "nothing.jpg")
    assert main(["upscale", "-o", str(tmp_path / "o.jpg")]) == 2
    _error_line(capsys, "needs IMAGE")


def test_existing_output_refused(image, tmp_path, capsys):
    out = tmp_path / "exists.png"
    out.write_bytes(b"keep")
    assert main(["upscale", str(image), "-o", str(out)]) == 2
    _error_line(capsys, "already exists")
    assert out.read_bytes() == b"keep"


def test_subprocess_one_line_error(image, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "photomend", "upscale", str(image), "-s", "3", "-o",
         str(tmp_path / "o.png"), "--model", "nope"],
        capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ),
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("photomend: error: unknown upscaler 'nope'")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
