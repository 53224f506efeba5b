"""Tests of the photomend command: happy paths, folder mode, and every bad input -> exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photomend.cli import main


def _write(arr: np.ndarray, path: Path) -> Path:
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def files(tmp_path, photo, hole):
    """photo.png and mask.png in tmp_path/in; tmp_path/out does not exist yet."""
    folder = tmp_path / "in"
    folder.mkdir()
    return _write(photo, folder / "photo.png"), _write(hole, folder / "mask.png")


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "photomend", *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **(env or {})},
    )


def _only(folder: Path) -> list[str]:
    """File names in ``folder``: a failed write must leave no output and no temp file behind."""
    return sorted(p.name for p in folder.iterdir())


def _one_error_line(stderr: str, *needles: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("photomend: error: ")
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0]


# --- through a real subprocess -----------------------------------------------------------------


def test_subprocess_happy_path(files, tmp_path, photo, hole):
    image, mask = files
    out = tmp_path / "out.jpg"
    proc = _run("remove", image, "--mask", mask, "-o", out, "--engine", "telea")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {out} (64x48, ") and proc.stdout.rstrip().endswith(" s)")
    assert proc.stderr == ""  # stderr is not a TTY: no progress bars
    result = np.asarray(Image.open(out)).astype(int)
    assert result.shape == photo.shape
    assert np.abs(result[~hole] - photo[~hole]).mean() < 4  # JPEG-close outside the hole


def test_subprocess_folder_mode(tmp_path, photo, hole):
    images, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out" / "nested"
    images.mkdir()
    masks.mkdir()
    for name in ("a.png", "b.jpg", "c.png", "d.png"):
        _write(photo, images / name)
    _write(hole, masks / "a.png")  # stem.png
    _write(hole, masks / "b_mask.png")  # stem_mask.png
    _write(hole, masks / "c.webp")  # stem.*
    _write(np.ones_like(hole), masks / "e.png")  # all hole: fails, named
    # d has no mask: reported, skipped, counted as a failure
    _write(photo, images / "e.png")
    proc = _run("remove", images, "--mask", masks, "-o", out, "--engine", "telea")
    assert proc.returncode == 2
    assert _only(out) == ["a.png", "b.jpg", "c.png"]
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in proc.stderr
    assert "no mask for d.png" in errors[0] and errors[1].startswith("photomend: error: e.png: ")
    assert "processed 3 of 5 images" in proc.stdout and "2 failed" in proc.stdout
    assert Image.open(out / "b.jpg").format == "JPEG"


def test_subprocess_missing_image(tmp_path):
    proc = _run("remove", tmp_path / "nope.png", "--mask", tmp_path / "m.png", "-o",
                tmp_path / "o.png")
    assert proc.returncode == 2
    _one_error_line(proc.stderr, "nope.png", "no such file")


def test_subprocess_unknown_engine(files, tmp_path):
    image, mask = files
    proc = _run("remove", image, "--mask", mask, "-o", tmp_path / "o.png", "--engine", "magic")
    assert proc.returncode == 2
    _one_error_line(proc.stderr, "unknown engine 'magic'", "telea")
    assert not (tmp_path / "o.png").exists()


def test_subprocess_engines_list():
    proc = _run("engines")
    assert proc.returncode == 0
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert {"patchmatch", "telea", "ns"} <= set(names)


def test_console_script_entry_point_is_main():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "photomend"]
    assert ep.value == "photomend.cli:main"


# --- in process --------------------------------------------------------------------------------


def test_in_process_happy_path_png(files, tmp_path, photo, hole, capsys):
    image, mask = files
    out = tmp_path / "out.png"
    assert main(["remove", str(image), "--mask", str(mask), "-o", str(out), "--engine", "telea",
                 "--hd-strategy", "original", "--seed", "3"]) == 0
    result = np.asarray(Image.open(out))
    np.testing.assert_array_equal(result[~hole], photo[~hole])
    assert "wrote" in capsys.readouterr().out


def test_quiet_prints_nothing(files, tmp_path, capsys):
    image, mask = files
    assert main(["remove", str(image), "--mask", str(mask), "-o", str(tmp_path / "o.png"),
                 "--engine", "telea", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")


def test_output_folder_for_single_image(files, tmp_path, capsys):
    image, mask = files
    (tmp_path / "dest").mkdir()
    assert main(["remove", str(image), "--mask", str(mask), "-o", str(tmp_path / "dest"),
                 "--engine", "telea", "-q"]) == 0
    assert _only(tmp_path / "dest") == ["photo.png"]


def _fails(capsys, argv: list[str], *needles: str) -> None:
    assert main(argv) == 2
    _one_error_line(capsys.readouterr().err, *needles)


def test_mask_of_another_size_then_resize_mask(files, tmp_path, hole, capsys):
    image, _ = files
    small = _write(hole[::2, ::2], tmp_path / "small.png")
    out = tmp_path / "o.png"
    argv = ["remove", str(image), "--mask", str(small), "-o", str(out), "--engine", "telea"]
    _fails(capsys, argv, "mask is 32x24 but the image is 64x48", "--resize-mask")
    assert not out.exists()
    assert main(argv + ["--resize-mask"]) == 0 and out.exists()


def test_empty_mask_writes_unchanged_with_note(files, tmp_path, photo, capsys):
    image, _ = files
    empty = _write(np.zeros((48, 64), np.uint8), tmp_path / "empty.png")
    out = tmp_path / "o.png"
    assert main(["remove", str(image), "--mask", str(empty), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "note:" in captured.err and "unchanged" in captured.err
    np.testing.assert_array_equal(np.asarray(Image.open(out)), photo)


def test_all_hole_mask(files, tmp_path, capsys):
    image, _ = files
    full = _write(np.full((48, 64), 255, np.uint8), tmp_path / "full.png")
    _fails(capsys, ["remove", str(image), "--mask", str(full), "-o", str(tmp_path / "o.png"),
                    "--engine", "telea"], "covers the whole image")
    assert _only(tmp_path) == ["full.png", "in"]


@pytest.mark.parametrize("content", [b"just some text\n", b"\xff\xd8\xff\xe0 truncated jpeg"])
def test_unreadable_or_non_image(tmp_path, files, content, capsys):
    _, mask = files
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content)
    _fails(capsys, ["remove", str(bad), "--mask", str(mask), "-o", str(tmp_path / "o.png")],
           "bad.jpg")
    assert not (tmp_path / "o.png").exists()


def test_image_over_pixel_limit(files, tmp_path, capsys):
    image, mask = files
    _fails(capsys, ["remove", str(image), "--mask", str(mask), "-o", str(tmp_path / "o.png"),
                    "--max-pixels", "1000"], "64x48", "1,000")
    assert not (tmp_path / "o.png").exists()


def test_output_folder_not_writable(files, tmp_path, capsys):
    image, mask = files
    blocker = tmp_path / "a-file"
    blocker.write_text("x")  # a parent that is a file cannot be created, even by root
    _fails(capsys, ["remove", str(image), "--mask", str(mask), "-o", str(blocker / "o.png"),
                    "--engine", "telea"], "o.png")
    assert _only(tmp_path) == ["a-file", "in"]


def test_output_equal_to_input_needs_overwrite(files, photo, hole, capsys):
    image, mask = files
    argv = ["remove", str(image), "--mask", str(mask), "-o", str(image), "--engine", "telea"]
    _fails(capsys, argv, "is the input image", "--overwrite")
    np.testing.assert_array_equal(np.asarray(Image.open(image)), photo)
    assert main(argv + ["--overwrite"]) == 0
    assert not np.array_equal(np.asarray(Image.open(image)), photo)
    assert _only(image.parent) == ["mask.png", "photo.png"]


def test_existing_output_needs_overwrite(files, tmp_path, capsys):
    image, mask = files
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    _fails(capsys, ["remove", str(image), "--mask", str(mask), "-o", str(out)], "already exists")
    assert out.read_bytes() == b"keep me"


def test_unknown_output_suffix(files, tmp_path, capsys):
    image, mask = files
    _fails(capsys, ["remove", str(image), "--mask", str(mask), "-o", str(tmp_path / "o.gif")],
           ".gif")


def test_jpeg_output_of_rgba_warns(tmp_path, photo, hole, capsys):
    rgba = _write(np.dstack([photo, np.full((48, 64), 200, np.uint8)]), tmp_path / "rgba.png")
    mask = _write(hole, tmp_path / "m.png")
    assert main(["remove", str(rgba), "--mask", str(mask), "-o", str(tmp_path / "o.jpg"),
                 "--engine", "telea"]) == 0
    assert "warning:" in capsys.readouterr().err


def test_folder_mode_masks_beside_images_and_in_place_guard(tmp_path, photo, hole, capsys):
    folder = tmp_path / "shots"
    folder.mkdir()
    _write(photo, folder / "x.png")
    _write(hole, folder / "x_mask.png")
    _fails(capsys, ["remove", str(folder), "--mask", str(folder), "-o", str(folder)],
           "output folder is the input folder")
    out = tmp_path / "out"
    assert main(["remove", str(folder), "--mask", str(folder), "-o", str(out), "--engine",
                 "telea"]) == 0
    assert _only(out) == ["x.png"]  # x_mask.png is a mask, not an image to process


def test_folder_mode_needs_mask_folder(tmp_path, files, capsys):
    image, mask = files
    _fails(capsys, ["remove", str(image.parent), "--mask", str(mask), "-o", str(tmp_path / "o")],
           "must be a folder")


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["remove", "x.png"]) == 2  # --mask and -o missing
    assert main(["remove", "x.png", "-m", "m.png", "-o", "o.png", "--quality", "0"]) == 2
    assert main(["remove", "x.png", "-m", "m.png", "-o", "o.png", "--hd-strategy", "big"]) == 2
    assert main(["--help"]) == 0
    capsys.readouterr()


def test_unexpected_failure_exit_1_and_traceback_flag(files, tmp_path, capsys, monkeypatch):
    import photomend.cli.remove as _remove_cli  # noqa: F401
    from photomend import cli

    def boom(*args, **kwargs):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(cli.remove, "remove_array", boom)
    image, mask = files
    argv = ["remove", str(image), "--mask", str(mask), "-o", str(tmp_path / "o.png")]
    assert main(argv) == 1
    _one_error_line(capsys.readouterr().err, "RuntimeError: engine exploded", "--traceback")
    assert main(["--traceback", *argv]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    monkeypatch.setenv("PHOTOMEND_DEBUG", "1")
    assert main(argv) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


# --- --compare: the before/after sheet --------------------------------------------------------


def _sheet_halves(path: Path, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The (before, after) panels of a sheet whose panels are h x w (labels on top, gap between)."""
    sheet = np.asarray(Image.open(path).convert("RGB"))
    strip = sheet.shape[0] - h
    return sheet[strip:, :w], sheet[strip:, sheet.shape[1] - w :]


def test_compare_writes_before_after_sheet(files, tmp_path, photo, hole, capsys):
    image, mask = files
    out, sheet = tmp_path / "o.png", tmp_path / "sheet.png"
    assert main(["remove", str(image), "--mask", str(mask), "-o", str(out), "--engine", "telea",
                 "--compare", str(sheet)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {sheet} (before | after)"
    before, after = _sheet_halves(sheet, 48, 64)
    np.testing.assert_array_equal(after, np.asarray(Image.open(out)))
    np.testing.assert_array_equal(before[~hole], photo[~hole])
    tinted = before[hole].astype(int)
    assert (tinted[:, 0] > tinted[:, 1] + 60).all() and (tinted[:, 2] > tinted[:, 1] + 60).all()
    assert _only(tmp_path) == ["in", "o.png", "sheet.png"]


def test_compare_into_folder_and_folder_mode(tmp_path, photo, hole, capsys):
    images, sheets = tmp_path / "images", tmp_path / "sheets"
    images.mkdir()
    for name in ("a.png", "b.jpg"):
        _write(photo, images / name)
        _write(hole, images / f"{Path(name).stem}_mask.png")
    assert main(["remove", str(images), "--mask", str(images), "-o", str(tmp_path / "out"),
                 "--engine", "telea", "--compare", str(sheets), "-q"]) == 0
    assert _only(sheets) == ["a.png", "b.jpg"] and _only(tmp_path / "out") == ["a.png", "b.jpg"]
    sheets.joinpath("single").mkdir()
    assert main(["remove", str(images / "a.png"), "--mask", str(images / "a_mask.png"), "-o",
                 str(tmp_path / "one.png"), "--engine", "telea", "--compare",
                 str(sheets / "single"), "-q"]) == 0
    assert _only(sheets / "single") == ["a.png"]
    capsys.readouterr()


@pytest.mark.parametrize(
    ("compare", "needle"),
    [("o.png", "its own name"), ("sheet.gif", ".gif"), ("taken.png", "already exists")],
)
def test_compare_problems_fail_before_any_output(files, tmp_path, capsys, compare, needle):
    image, mask = files
    (tmp_path / "taken.png").write_bytes(b"keep me")
    _fails(capsys, ["remove", str(image), "--mask", str(mask), "-o", str(tmp_path / "o.png"),
                    "--compare", str(tmp_path / compare)], needle)
    assert _only(tmp_path) == ["in", "taken.png"]
    assert (tmp_path / "taken.png").read_bytes() == b"keep me"


def test_compare_folder_mode_needs_its_own_folder(tmp_path, photo, hole, capsys):
    images = tmp_path / "images"
    images.mkdir()
    _write(photo, images / "a.png")
    _write(hole, images / "a_mask.png")
    out = tmp_path / "out"
    _fails(capsys, ["remove", str(images), "--mask", str(images), "-o", str(out), "--compare",
                    str(out)], "--compare")
    (tmp_path / "file.png").write_bytes(b"x")
    _fails(capsys, ["remove", str(images), "--mask", str(images), "-o", str(out), "--compare",
                    str(tmp_path / "file.png")], "must be a folder too")
    assert not out.exists()


# --- photomend example -------------------------------------------------------------------------


EXAMPLE_FILES = ["example.jpg", "example_before_after.jpg", "example_mask.png",
                 "example_result.jpg"]


def test_subprocess_example(tmp_path):
    out = tmp_path / "demo" / "nested"
    proc = _run("example", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"wrote {out / 'example_result.jpg'} (800x425, ")
    assert lines[1] == f"wrote {out / 'example_before_after.jpg'} (before | after)"
    assert _only(out) == EXAMPLE_FILES

    photo = np.asarray(Image.open(out / "example.jpg")).astype(int)
    result = np.asarray(Image.open(out / "example_result.jpg")).astype(int)
    hole = np.asarray(Image.open(out / "example_mask.png")) > 0
    assert photo.shape == result.shape == (425, 800, 3) and 0.01 < hole.mean() < 0.1
    assert np.abs(result[~hole] - photo[~hole]).mean() < 2  # JPEG-close outside the hole
    # The tower is gone: inside the hole the fill is close to the sky around it, with no
    # bright girders left.
    assert np.abs(result[hole] - photo[hole]).mean() > 5
    sheet = Image.open(out / "example_before_after.jpg")
    assert sheet.width > 1600 and sheet.height > 425

    again = _run("example", "-o", out, "--quiet")  # reruns replace the example's own files
    assert again.returncode == 0 and again.stdout == "" and again.stderr == ""
    assert _only(out) == EXAMPLE_FILES


def test_example_output_must_be_a_folder(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    _fails(capsys, ["example", "-o", str(blocker)], "must be a folder")
    assert _only(tmp_path) == ["a-file"]


def test_example_defaults_to_photomend_example_folder(tmp_path, monkeypatch, capsys):
    import photomend.cli.remove as _remove_cli  # noqa: F401
    from photomend import cli

    calls = []
    monkeypatch.setattr(cli.remove, "_remove_one", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.chdir(tmp_path)
    assert main(["example", "-q"]) == 0
    ((_image, _mask, out, settings), kwargs) = calls[0]
    assert out == Path("photomend-example", "example_result.jpg")
    assert kwargs["compare"] == Path("photomend-example", "example_before_after.jpg")
    assert settings.engine == "patchmatch" and settings.hd_strategy == "auto"
    assert sorted(p.name for p in Path("photomend-example").iterdir()) == [
        "example.jpg", "example_mask.png"]
    capsys.readouterr()


def test_compression_option(files, tmp_path, capsys):
    image, mask = files
    sizes = {}
    for level in ("0", "9"):
        out = tmp_path / f"out{level}.png"
        assert main(["remove", str(image), "-m", str(mask), "-o", str(out), "--engine", "telea",
                     "--compression", level, "-q"]) == 0
        sizes[level] = out.stat().st_size
    assert sizes["0"] > sizes["9"]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out0.png")),
                                  np.asarray(Image.open(tmp_path / "out9.png")))
    capsys.readouterr()
    assert main(["remove", str(image), "-m", str(mask), "-o", str(tmp_path / "x.png"),
                 "--compression", "10"]) == 2
    assert "--compression" in capsys.readouterr().err
