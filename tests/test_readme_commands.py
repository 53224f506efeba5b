"""Every README command marked runnable exits 0 as written.

A fenced ``bash``/``sh`` block of README.md preceded by the line ``<!-- runnable -->`` is a list
of commands a reader may copy one at a time. Each of its command lines (comments and blank lines
aside; a line ending in ``\\`` continues on the next) runs on its own, with ``bash`` in a fresh
copy of a sample folder that holds every file the README's examples name (made here from the
bundled example photo and the shipped example scan). ``photomend ...`` and
``python -m photomend ...`` run through :func:`photomend.cli.main` in this process (what the
console script calls; no start-up cost per line), anything else with ``bash``, with this
interpreter's ``photomend`` and ``python`` first on PATH. ``<!-- runnable skip="TEXT" -->`` (TEXT may be repeated,
``skip="A" skip="B"``) leaves out the lines that contain TEXT, for commands that need a network or
an optional extra; the marker says so in the README's source.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(not README.is_file(), reason="needs the source checkout")

MARKER = re.compile(r"^<!--\s*runnable\b(?P<opts>[^>]*?)-->\s*\n```(?:bash|sh|shell)[ \t]*\n"
                    r"(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)


def runnable_commands(text: str) -> list[str]:
    """The command lines of the README's runnable blocks, in order, skipped lines left out."""
    commands = []
    for block in MARKER.finditer(text):
        skips = re.findall(r'skip="([^"]+)"', block.group("opts"))
        joined = re.sub(r"\s*\\\n\s*", " ", block.group("body"))
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#") and not any(s in line for s in skips):
                commands.append(line)
    return commands


def test_markers_are_read():
    text = ("<!-- runnable -->\n```bash\n# a comment\nphotomend engines   # list\n\n"
            "photomend remove a.jpg \\\n   -m b.png -o c.jpg\n```\n"
            "```bash\nnot marked\n```\n"
            '<!-- runnable skip="fetch" skip="ray" -->\n```sh\nphotomend models fetch x\n'
            "photomend models list\npip install ray\n```\n")
    assert runnable_commands(text) == ["photomend engines   # list",
                                       "photomend remove a.jpg -m b.png -o c.jpg",
                                       "photomend models list"]


def _save_mask(path: Path, size: tuple[int, int], box: tuple[int, int, int, int]) -> None:
    mask = np.zeros(size[::-1], np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 255
    Image.fromarray(mask).save(path)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    """A folder with every file the README's runnable commands name (small, for speed)."""
    root = tmp_path_factory.mktemp("readme_samples")
    data = files("photomend") / "data"
    with as_file(data / "example.jpg") as p, as_file(data / "example_mask.png") as m:
        photo = Image.open(p).convert("RGB")
        mask = Image.open(m).convert("L")
    small = (photo.width // 2, photo.height // 2)
    photo = photo.resize(small, Image.LANCZOS)
    mask = mask.resize(small, Image.NEAREST)
    photo.save(root / "photo.jpg", quality=92)
    mask.save(root / "mask.png")
    for folder in ("photos", "masks", "scans", "scan_hints"):
        (root / folder).mkdir()
    for stem, flip in (("harbour", False), ("tower", True)):
        im, mk = (photo, mask) if not flip else (photo.transpose(Image.FLIP_LEFT_RIGHT),
                                                 mask.transpose(Image.FLIP_LEFT_RIGHT))
        im.save(root / "photos" / f"{stem}.jpg", quality=92)
        mk.save(root / "masks" / f"{stem}.png")
    scan = Image.open(ROOT / "examples" / "scans" / "rocket_scan.jpg").convert("RGB")
    scan = scan.resize((scan.width // 2, scan.height // 2), Image.LANCZOS)
    scan.save(root / "scan.jpg", quality=92)
    scan.save(root / "scans" / "scan.jpg", quality=92)
    _save_mask(root / "masks" / "scan.png", scan.size, (150, 60, 180, 90))
    _save_mask(root / "my_strokes.png", scan.size, (20, 20, 40, 24))
    photo.save(root / "colour.jpg", quality=92)
    photo.save(root / "similar.jpg", quality=92)
    photo.convert("L").save(root / "old.jpg", quality=92)
    strokes = np.zeros((photo.height, photo.width, 4), np.uint8)
    strokes[20:30, 20:120] = (60, 110, 200, 255)   # sky
    strokes[-30:-20, 20:120] = (150, 120, 80, 255)  # ground
    Image.fromarray(strokes).save(root / "strokes.png")
    (root / "hints.json").write_text(json.dumps({"points": [
        {"x": 40, "y": 25, "color": "#3c6ec8", "radius": 6},
        {"x": 40, "y": photo.height - 25, "color": "#967850", "radius": 6}]}))
    scan_strokes = np.zeros((scan.height, scan.width, 4), np.uint8)
    scan_strokes[10:16, 10:80] = (60, 110, 200, 255)
    Image.fromarray(scan_strokes).save(root / "scan_hints" / "scan.png")
    shutil.copytree(ROOT / "examples", root / "examples",
                    ignore=shutil.ignore_patterns("restored", ".photomend-batch*"))
    return root


COMMANDS = runnable_commands(README.read_text(encoding="utf-8")) if README.is_file() else []


def test_readme_has_runnable_blocks():
    assert len(COMMANDS) >= 10, COMMANDS
    for job in ("remove", "restore", "colorize", "upscale", "batch", "engines"):
        assert any(f"photomend {job}" in c for c in COMMANDS), job


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_exits_0(command, samples, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    shutil.copytree(samples, work)
    monkeypatch.chdir(work)
    monkeypatch.delenv("PHOTOMEND_MAX_PIXELS", raising=False)
    argv = shlex.split(command, comments=True)
    if argv[:3] == ["python", "-m", "photomend"]:
        argv = ["photomend", *argv[3:]]
    if argv[0] == "photomend":  # in this process: the console script is cli.main
        from photomend.cli import main

        code = main(argv[1:])
        out, err = capsys.readouterr()
    else:
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, check=False,
                              capture_output=True, text=True, timeout=600)
        code, out, err = done.returncode, done.stdout, done.stderr
    assert code == 0, f"{command!r} exited {code}\n{out[-1500:]}\n{err[-1500:]}"
    if command == "photomend batch examples/archive_restore.toml":
        # the shipped job: restore, then upscale x2, of the manifest's one scan, as PNG
        restored = sorted((work / "examples" / "restored").glob("*.png"))
        assert [p.name for p in restored] == ["rocket_scan_restored.png"]
        with Image.open(restored[0]) as im, Image.open(work / "examples" / "scans" /
                                                       "rocket_scan.jpg") as scan:
            assert im.size == (2 * scan.size[0], 2 * scan.size[1])
