"""``photomend remove --auto/--select/--keep`` and ``photomend objects``: happy paths and
every bad input named in the issue (no people: unchanged + note, exit 0; unknown class and
--select outside the image: one line, exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from photomend.cli import main

skimage_data = pytest.importorskip("skimage.data")
COAT, SKY = (100, 300), (100, 40)


@pytest.fixture(scope="module")
def camera_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "camera.png"
    Image.fromarray(skimage_data.camera()).save(path)
    return path


def _error_line(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0]


def test_remove_auto_person_writes_result_and_mask(camera_png, tmp_path, capsys):
    out, mask_out = tmp_path / "out.png", tmp_path / "mask.png"
    argv = ["remove", str(camera_png), "--auto", "person", "-o", str(out), "--mask-out",
            str(mask_out), "--engine", "telea"]
    assert main(argv) == 0
    mask = np.asarray(Image.open(mask_out).convert("L")) > 127
    assert mask[COAT[1], COAT[0]] and not mask[SKY[1], SKY[0]]
    before = skimage_data.camera()
    after = np.asarray(Image.open(out).convert("L"))
    assert np.array_equal(after[~mask], before[~mask])
    assert np.abs(after[mask].astype(int) - before[mask]).mean() > 10
    assert "wrote" in capsys.readouterr().out


def test_keep_and_select(camera_png, tmp_path):
    mask_out = tmp_path / "mask.png"
    argv = ["remove", str(camera_png), "--auto", "person", "--keep", "100,300", "-o",
            str(tmp_path / "out.png"), "--mask-out", str(mask_out), "--engine", "telea", "-q"]
    assert main(argv) == 0
    assert not np.asarray(Image.open(mask_out)).any()  # the only person is kept
    argv = ["remove", str(camera_png), "--select", "100,40", "-o", str(tmp_path / "sky.png"),
            "--mask-out", str(mask_out), "--engine", "telea", "-q", "--overwrite"]
    assert main(argv) == 0
    mask = np.asarray(Image.open(mask_out).convert("L")) > 127
    assert mask[SKY[1], SKY[0]] and not mask[COAT[1], COAT[0]]


def test_no_people_leaves_the_image_unchanged(tmp_path, capsys):
    src = tmp_path / "grass.png"
    pixels = (np.random.default_rng(0).random((80, 100, 3)) * 60 + 80).astype(np.uint8)
    Image.fromarray(pixels).save(src)
    out = tmp_path / "out.png"
    assert main(["remove", str(src), "--auto", "person", "-o", str(out)]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), pixels)
    assert "no person found" in capsys.readouterr().err


def test_folder_with_auto_and_no_masks(camera_png, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(camera_png.read_bytes())
    assert main(["remove", str(folder), "--auto", "person", "-o", str(tmp_path / "out"),
                 "--mask-out", str(tmp_path / "masks"), "--engine", "telea", "-q"]) == 0
    assert (tmp_path / "out" / "a.png").is_file()
    assert np.asarray(Image.open(tmp_path / "masks" / "a_mask.png")).any()


@pytest.mark.parametrize("argv, needles", [
    (["--auto", "person,unicorn"], ("unknown class 'unicorn'", "valid classes: person")),
    (["--select", "600,10"], ("outside the 512x512 image",)),
    (["--keep", "5,5"], ("--keep needs --auto",)),
    ([], ("give --mask, --auto CLASSES or --select",)),
    (["--auto", "person", "--min-score", "2"], ("--min-score",)),
])
def test_bad_input_is_one_line_and_exit_2(camera_png, tmp_path, capsys, argv, needles):
    out = tmp_path / "out.png"
    assert main(["remove", str(camera_png), "-o", str(out), *argv]) == 2
    _error_line(capsys.readouterr().err, *needles)
    assert not out.exists()


def test_objects_json_and_overlay(camera_png, tmp_path, capsys):
    overlay = tmp_path / "overlay.png"
    assert main(["objects", str(camera_png), "--overlay", str(overlay)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["width"], report["height"]) == (512, 512)
    assert {i["label"] for i in report["instances"]} == {"person"}
    x0, y0, x1, y1 = report["instances"][0]["box"]
    assert x0 < COAT[0] < x1 and y0 < COAT[1] < y1
    assert Image.open(overlay).size == (512, 512)
    assert main(["objects", str(camera_png), "--classes", "sky"]) == 2


def test_batch_job_with_remove_auto(camera_png, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "camera.png").write_bytes(camera_png.read_bytes())
    job = tmp_path / "job.toml"
    job.write_text('steps = [{op = "remove_auto", auto = ["person"], engine = "telea"}]\n'
                   '[input]\nfolder = "in"\n[output]\nfolder = "out"\nformat = "png"\n')
    assert main(["batch", str(job), "--workers", "1", "--retries", "0"]) == 0
    assert "1 done" in capsys.readouterr().out
    before = skimage_data.camera()
    after = np.asarray(Image.open(tmp_path / "out" / "camera.png").convert("L"))
    assert abs(int(after[COAT[1], COAT[0]]) - int(before[COAT[1], COAT[0]])) > 0 or \
        np.abs(after.astype(int) - before).sum() > 1000
    assert after[SKY[1], SKY[0]] == before[SKY[1], SKY[0]]


def test_exif_rotated_photo_gets_a_mask_in_its_own_orientation(tmp_path):
    upright = skimage_data.camera()[:, :400]  # 400 wide, 512 tall as shown
    exif = Image.Exif()
    exif[0x0112] = 6  # stored a quarter turn anticlockwise; viewers turn it back
    src = tmp_path / "turned.jpg"
    Image.fromarray(np.rot90(upright)).save(src, quality=95, exif=exif)
    mask_out = tmp_path / "mask.png"
    assert main(["remove", str(src), "--auto", "person", "-o", str(tmp_path / "out.png"),
                 "--mask-out", str(mask_out), "--engine", "telea", "-q"]) == 0
    mask = np.asarray(Image.open(mask_out).convert("L")) > 127
    assert mask.shape == upright.shape
    assert mask[COAT[1], COAT[0]] and not mask[SKY[1], SKY[0]]
