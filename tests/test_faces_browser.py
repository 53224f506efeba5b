"""The studio's Faces option in a real browser (Debian's Chromium via Playwright; skipped
without them), on a random GFPGAN checkpoint in the release layout (64 px): Upscale with
Faces gfpgan restores the astronaut's face and nothing else; PULSE, not installed, is listed
but cannot be chosen; Face strength shows only with GFPGAN."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("uvicorn")
pytest.importorskip("playwright.sync_api")
pytest.importorskip("torch")
skimage_data = pytest.importorskip("skimage.data")

from test_faces_gfpgan import exported, installed, models_dir  # noqa: E402,F401
from test_server_browser import CHROMIUM, browser, serving  # noqa: E402,F401

pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium"),
              pytest.mark.usefixtures("one_torch_thread")]
FACE_BOX = (174, 76, 275, 176)  # the astronaut's face at 512 px (x0, y0, x1, y1)


@pytest.fixture
def server_url(installed):  # noqa: F811  (the zoo folder is set before the workers start)
    with serving("thread") as url:
        yield url


@pytest.fixture
def page(browser, server_url):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True,
                                  bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server_url + "/")
    page.wait_for_function("window.photomendStudio !== undefined")
    yield page
    context.close()
    assert not errors, errors


def _upscale(page, tmp_path, faces: str) -> np.ndarray:
    page.select_option("#opt-faces", faces)
    page.evaluate("document.getElementById('message').textContent = ''")
    page.click("#run")
    page.wait_for_function("/done|failed/.test(document.getElementById('message').textContent)",
                           timeout=120_000)
    assert "failed" not in page.inner_text("#message")
    assert page.locator("#history li").count() == 2
    with page.expect_download() as info:
        page.click("#download")
    dest = tmp_path / f"{faces or 'off'}.png"
    info.value.save_as(dest)
    with Image.open(dest) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def test_upscale_with_faces_in_the_studio(page, tmp_path):
    if "upscale" not in page.evaluate("window.photomendStudio.state.available"):
        pytest.skip("this build has no /v1/upscale")
    photo = tmp_path / "astro.png"
    Image.fromarray(skimage_data.astronaut()[::2, ::2].copy()).save(photo)
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#history li")
    page.click("[role=tab][data-op=upscale]")
    page.select_option("#opt-model", "bicubic")
    options = page.eval_on_selector_all(
        "#opt-faces option", "os => os.map(o => [o.value, o.disabled, o.title])")
    assert [o[:2] for o in options] == [["", False], ["gfpgan", False], ["pulse", True]]
    assert "photomend models fetch pulse-stylegan-ffhq" in options[2][2]
    assert not page.is_visible("#opt-face_strength")
    plain = _upscale(page, tmp_path, "")
    assert "face" not in page.inner_text("#message").lower()

    page.locator("#history li").first.click()  # back to the photo as opened
    page.wait_for_function("window.photomendStudio.state.at === 0")
    page.select_option("#opt-faces", "gfpgan")
    assert page.is_visible("#opt-face_strength")
    restored = _upscale(page, tmp_path, "gfpgan")
    assert "1 face restored with GFPGAN" in page.inner_text("#message")
    assert "gfpgan" in page.inner_text("#history li.current")
    assert restored.shape == plain.shape == (512, 512, 3)
    changed = np.any(restored != plain, axis=2)
    ys, xs = np.nonzero(changed)
    x0, y0, x1, y1 = FACE_BOX
    assert changed.mean() > 0.005 and x0 < xs.mean() < x1 and y0 < ys.mean() < y1
    far = np.ones(changed.shape, bool)
    far[max(0, y0 - 100):y1 + 100, max(0, x0 - 100):x1 + 100] = False
    assert not changed[far].any()
