"""The studio's Select tool in a real browser (Debian's Chromium via Playwright; skipped
without them): click a person in a real photo, the mask appears, Remove, the person is gone;
All people and Keep."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("uvicorn")
pytest.importorskip("playwright.sync_api")
skimage_data = pytest.importorskip("skimage.data")

from test_server_browser import (  # noqa: E402,F401  (the page, its server and browser)
    CHROMIUM,
    _remove_and_download,
    browser,
    page,
    server_url,
)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
COAT, FACE, SKY = (100, 300), (240, 120), (100, 40)


def _mask_at(page, x: int, y: int) -> bool:
    return page.evaluate(
        "([x, y]) => document.getElementById('strokes').getContext('2d')"
        ".getImageData(x, y, 1, 1).data[3] > 0", [x, y])


def _open_camera(page, tmp_path):
    photo = tmp_path / "camera.png"
    Image.fromarray(np.dstack([skimage_data.camera()] * 3)).save(photo)
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#history li")
    return np.asarray(Image.open(photo).convert("RGB"))


def test_click_a_person_then_remove(page, tmp_path):
    if "objects" not in page.evaluate("window.photomendStudio.state.available"):
        pytest.skip("this build has no /v1/objects")
    original = _open_camera(page, tmp_path)
    page.click("#select")
    page.mouse.click(*page.evaluate("([x, y]) => window.photomendStudio.toClient(x, y)",
                                    list(COAT)))
    page.wait_for_function(
        "document.getElementById('strokes').getContext('2d')"
        f".getImageData({COAT[0]}, {COAT[1]}, 1, 1).data[3] > 0", timeout=60_000)
    assert _mask_at(page, *FACE) and not _mask_at(page, *SKY)
    result = _remove_and_download(page, tmp_path, "telea", 60)
    assert (result[SKY[1], SKY[0]] == original[SKY[1], SKY[0]]).all()
    assert np.abs(result[250:350, 60:140].astype(int) - original[250:350, 60:140]).mean() > 5


def test_all_people_then_keep(page, tmp_path):
    if "objects" not in page.evaluate("window.photomendStudio.state.available"):
        pytest.skip("this build has no /v1/objects")
    _open_camera(page, tmp_path)
    page.click("#all-people")
    page.wait_for_function(
        "document.getElementById('strokes').getContext('2d')"
        f".getImageData({COAT[0]}, {COAT[1]}, 1, 1).data[3] > 0", timeout=60_000)
    page.click("#keep")
    page.mouse.click(*page.evaluate("([x, y]) => window.photomendStudio.toClient(x, y)",
                                    list(COAT)))
    page.wait_for_function(
        "document.getElementById('strokes').getContext('2d')"
        f".getImageData({COAT[0]}, {COAT[1]}, 1, 1).data[3] === 0", timeout=30_000)
