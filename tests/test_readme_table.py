"""README.md's results table is what benchmarks/readme_table.py writes from the committed
benchmarks/results_*.json, so that its figures cannot drift from the measurements."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "readme_table.py"

pytestmark = pytest.mark.skipif(not SCRIPT.is_file(), reason="needs the source checkout")


@pytest.fixture(scope="module")
def readme_table():
    spec = importlib.util.spec_from_file_location("readme_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_is_in_sync(readme_table):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table.BEGIN in text and readme_table.END in text
    assert readme_table.rewrite(text) == text, (
        "README.md's results table is out of date: run python benchmarks/readme_table.py")
    assert readme_table.main(["--check"]) == 0


def test_every_row_has_a_result_and_its_conditions(readme_table):
    rows = [line for line in readme_table.table().splitlines()
            if line.startswith("| ") and not line.startswith("| job ")]
    jobs = {row.split(" | ")[0].strip("| ") for row in rows}
    assert {"remove, 512 px", "remove, 4K", "remove, structure", "command line"} <= jobs
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert len(cells) == 6, row
        assert cells[2] and "commit " in cells[5] and "](benchmarks/results" in cells[5], row


def test_check_fails_on_a_stale_table(readme_table, tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    stale = text.replace(readme_table.table(), readme_table.table().replace("| met |",
                                                                            "| met? |", 1))
    assert stale != text
    readme = tmp_path / "README.md"
    readme.write_text(stale, encoding="utf-8")
    monkeypatch.setattr(readme_table, "README", readme)
    assert readme_table.main(["--check"]) == 1
    assert readme_table.main([]) == 0 and readme.read_text(encoding="utf-8") == text
