"""The README's Quickstart, .ci/run and the bundled example stay consistent with each other."""

from __future__ import annotations

import os
import re
from importlib.resources import files
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"

needs_checkout = pytest.mark.skipif(not README.is_file(), reason="needs the source checkout")


def _quickstart_commands() -> list[str]:
    """The command lines of the first fenced shell block under the Quickstart heading."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^#+ .*[Qq]uickstart.*?$(.*?)(?=^#+ |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no Quickstart heading"
    block = re.search(r"^```(?:bash|sh|shell|console)?[ \t]*\n(.*?)^```", section.group(1),
                      re.MULTILINE | re.DOTALL)
    assert block, "the Quickstart has no fenced shell block"
    lines = [line.removeprefix("$ ").strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


@needs_checkout
def test_quickstart_is_install_and_example_then_install_and_tests():
    commands = _quickstart_commands()
    assert len(commands) == 2, commands
    assert "pip install" in commands[0] and "photomend example" in commands[0]
    assert "pip install" in commands[1] and "pytest" in commands[1]


@needs_checkout
def test_ci_runs_exactly_the_readme_test_command():
    script = CI_RUN.read_text(encoding="utf-8")
    assert os.access(CI_RUN, os.X_OK)
    assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script
    assert _quickstart_commands()[1] in script.splitlines()


@needs_checkout
def test_readme_picture_and_links_exist():
    text = README.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if target.startswith(("http://", "https://", "benchmarks/")):
            continue  # benchmarks/ files are written by the benchmark run
        assert (ROOT / target).exists(), target
    picture = ROOT / "docs" / "example_before_after.jpg"
    assert picture.stat().st_size < 300_000


def test_bundled_example_is_small_and_licensed():
    data = files("photomend") / "data"
    photo, mask = data / "example.jpg", data / "example_mask.png"
    assert len(photo.read_bytes()) < 200_000
    with Image.open(photo) as im, Image.open(mask) as m:
        assert im.format == "JPEG" and max(im.size) == 800
        assert m.size == im.size
    notes = (data / "README.md").read_text(encoding="utf-8")
    assert "public domain" in notes and "skimage.data.rocket" in notes
