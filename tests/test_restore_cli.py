"""``photomend restore`` on files and folders: outputs, sheets, masks, notes and exit codes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from photomend.cli import main


@pytest.fixture(autouse=True)
def _models_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))


def _scan(h=160, w=200, scratch=True) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([0.3 + 0.4 * xx / w, 0.3 + 0.3 * yy / h, 0.5 + 0.1 * np.sin(xx / 20.0)], 2)
    img = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    if scratch:
        cv2.line(img, (15, 20), (185, 140), (250, 250, 250), 2)
    return img


def test_restore_file_with_mask_and_sheet(tmp_path, capsys):
    src = tmp_path / "scan.png"
    Image.fromarray(_scan()).save(src)
    out, m, sheet = tmp_path / "out.png", tmp_path / "mask.png", tmp_path / "sheet.jpg"
    code = main(["restore", str(src), "-o", str(out), "--detector", "classical",
                 "--mask-out", str(m), "--compare", str(sheet)])
    assert code == 0
    mask = np.asarray(Image.open(m).convert("L")) > 127
    assert mask[80, 100] and mask.mean() < 0.1   # the scratch passes through (100, 80)
    restored = np.asarray(Image.open(out))
    assert restored.shape == (160, 200, 3) and restored[80, 100].max() < 200
    sw, sh = Image.open(sheet).size
    assert sw > 3 * 200 and sh > 160
    text = capsys.readouterr().out
    assert "repaired" in text and "scan | defects found | restored" in text
    # the outputs exist now: refused without --overwrite, accepted with it
    assert main(["restore", str(src), "-o", str(out), "--detector", "classical", "-q"]) == 2
    assert main(["restore", str(src), "-o", str(out), "--detector", "classical", "-q",
                 "--overwrite"]) == 0


def test_extra_mask_and_threshold_options(tmp_path):
    src, extra = tmp_path / "scan.png", tmp_path / "extra.png"
    Image.fromarray(_scan(scratch=False)).save(src)
    strokes = np.zeros((160, 200), np.uint8)
    strokes[10:20, 10:30] = 255
    Image.fromarray(strokes).save(extra)
    m = tmp_path / "m.png"
    assert main(["restore", str(src), "-o", str(tmp_path / "o.png"), "--extra-mask", str(extra),
                 "--mask-out", str(m), "--threshold", "0.9", "-q"]) == 0
    assert (np.asarray(Image.open(m).convert("L")) > 127)[10:20, 10:30].all()
    assert main(["restore", str(src), "-o", str(tmp_path / "p.png"), "--threshold", "2"]) == 2


def test_no_defects_note(tmp_path, capsys):
    src = tmp_path / "clean.png"
    Image.fromarray(_scan(scratch=False)).save(src)
    assert main(["restore", str(src), "-o", str(tmp_path / "o.png")]) == 0
    err = capsys.readouterr().err
    assert "no defects found" in err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), _scan(scratch=False))


def test_folder_mode_and_bad_files(tmp_path, capsys):
    src = tmp_path / "scans"
    src.mkdir()
    Image.fromarray(_scan()).save(src / "a.png")
    Image.fromarray(_scan(scratch=False)).save(src / "b.jpg")
    Image.fromarray(_scan()[:40, :40]).save(src / "tiny.png")   # under 64 px: refused
    (src / "broken.png").write_bytes(b"junk")
    out, masks, sheets = tmp_path / "out", tmp_path / "masks", tmp_path / "sheets"
    code = main(["restore", str(src), "-o", str(out), "--detector", "classical",
                 "--mask-out", str(masks), "--compare", str(sheets)])
    assert code == 2  # two files failed on bad input; the others were written
    assert (out / "a.png").exists() and (out / "b.jpg").exists()
    assert (masks / "a_mask.png").exists() and (sheets / "a.png").exists()
    err = capsys.readouterr().err
    assert "tiny.png" in err and "at least 64 px" in err and "broken.png" in err


def test_usage_errors(tmp_path):
    assert main(["restore", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png")]) == 2
    src = tmp_path / "s.png"
    Image.fromarray(_scan()).save(src)
    assert main(["restore", str(src), "-o", str(tmp_path / "o.xyz")]) == 2
    assert main(["restore", str(src), "-o", str(tmp_path / "o.png"), "--detector", "x"]) == 2
    assert main(["restore", str(src), "-o", str(tmp_path / "o.png"), "--upscale", "7"]) == 2


def test_upscale_option(tmp_path):
    src = tmp_path / "s.png"
    Image.fromarray(_scan()).save(src)
    out = tmp_path / "o.png"
    assert main(["restore", str(src), "-o", str(out), "--detector", "classical",
                 "--upscale", "2", "-q"]) == 0
    assert Image.open(out).size == (400, 320)


def test_colorize_options(tmp_path, capsys):
    src, ref = tmp_path / "s.png", tmp_path / "ref.png"
    gray = _scan().mean(axis=2).astype(np.uint8)
    Image.fromarray(gray).save(src)
    Image.fromarray(_scan(scratch=False)).save(ref)
    # no network installed (PHOTOMEND_MODELS is an empty folder): refused before any work
    assert main(["restore", str(src), "-o", str(tmp_path / "a.png"), "--colorize"]) == 2
    assert "models fetch" in capsys.readouterr().err and not (tmp_path / "a.png").exists()
    assert main(["restore", str(src), "-o", str(tmp_path / "b.png"), "--colorize", "hints"]) == 2
    out = tmp_path / "c.png"
    assert main(["restore", str(src), "-o", str(out), "--detector", "classical",
                 "--reference", str(ref), "-q"]) == 0
    rgb = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert np.abs(rgb[:, :, 0] - rgb[:, :, 2]).mean() > 3  # it has colour now
    # a bare --colorize takes colorize's default: the reference given (README's example)
    bare = tmp_path / "d.png"
    assert main(["restore", str(src), "-o", str(bare), "--detector", "classical",
                 "--colorize", "--reference", str(ref), "-q"]) == 0
    assert np.array_equal(np.asarray(Image.open(bare)), np.asarray(Image.open(out)))
