"""The web studio in a real browser: Debian's Chromium, headless, driven by Playwright.

Each test opens the page served by a real uvicorn server on 127.0.0.1, loads a photo through the
file picker, paints a stroke with the mouse, presses Remove, downloads the result and checks
that the pixels changed inside the stroke and nowhere else. ``PHOTOMEND_UPDATE_DOCS=1`` also
writes the screenshot docs/studio.png.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

uvicorn = pytest.importorskip("uvicorn")
playwright_sync = pytest.importorskip("playwright.sync_api")

from photomend.server import Settings, create_app  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run "
                                "installs it)")
DOCS = Path(__file__).resolve().parent.parent / "docs"


@contextlib.contextmanager
def serving(executor: str):
    """The studio's server on a free local port in a thread, one worker of ``executor``;
    yields its URL and stops it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(Settings(port=port, workers=1, executor=executor))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def server_url():
    with serving("process") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True,
                                  bypass_csp=True)  # Playwright evaluates strings
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server_url + "/")
    page.wait_for_function("window.photomendStudio !== undefined")
    yield page
    context.close()
    assert not errors, errors


def _paint(page, points: list[tuple[float, float]], size: int) -> None:
    page.fill("#size", str(size))
    xy = [page.evaluate("([x, y]) => window.photomendStudio.toClient(x, y)", [x, y])
          for x, y in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for p in xy[1:]:
        page.mouse.move(*p, steps=8)
    page.mouse.up()


def _remove_and_download(page, tmp_path: Path, engine: str, timeout_s: float) -> np.ndarray:
    page.select_option("#opt-engine", engine)
    page.click("#run")
    page.wait_for_function("document.querySelectorAll('#history li').length === 2",
                           timeout=timeout_s * 1000)
    assert "failed" not in page.inner_text("#message")
    with page.expect_download() as info:
        page.click("#download")
    dest = tmp_path / info.value.suggested_filename
    info.value.save_as(dest)
    assert dest.suffix == ".png"
    with Image.open(dest) as im:
        return np.asarray(im.convert("RGB"))


def _stroke_distance(shape, points, ) -> np.ndarray:
    """Distance of every pixel from the polyline through ``points`` (image coordinates)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    dist = np.full(shape, np.inf, np.float32)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-6), 0, 1)
        dist = np.minimum(dist, np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy)))
    return dist


def test_studio_removes_the_painted_object(page, tmp_path):
    # The bundled example: paint over the tower its mask marks, remove, compare, download.
    data = files("photomend") / "data"
    photo = tmp_path / "example.jpg"
    photo.write_bytes((data / "example.jpg").read_bytes())
    with Image.open(data / "example_mask.png") as m:
        ys, xs = np.nonzero(np.asarray(m.convert("L")))
    with Image.open(photo) as im:
        original = np.asarray(im.convert("RGB"))
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#history li")
    size = int(xs.max() - xs.min()) + 16
    cx = float(xs.min() + xs.max()) / 2
    points = [(cx, float(ys.min()) - 6), (cx, float(ys.max()) + 6)]
    _paint(page, points, size)
    result = _remove_and_download(page, tmp_path, "patchmatch", 30)

    assert result.shape == original.shape
    dist = _stroke_distance(original.shape[:2], points)
    changed = np.abs(result.astype(int) - original).max(axis=2) > 0
    assert not changed[dist > size / 2 + 2].any(), "pixels outside the stroke changed"
    tower = np.zeros(original.shape[:2], bool)
    tower[ys, xs] = True
    assert changed[tower].mean() > 0.9, "the painted object was not filled"

    page.fill("#compare", str(round(100 * cx / original.shape[1]) + 1))  # divider on the tower
    shot = page.screenshot()
    (tmp_path / "studio.png").write_bytes(shot)
    if os.environ.get("PHOTOMEND_UPDATE_DOCS"):
        (DOCS / "studio.png").write_bytes(shot)
    assert page.locator("#history li").count() == 2


def test_studio_handles_a_4k_photo(page, tmp_path):
    h, w = 2160, 3840
    # Smooth colours plus a fine periodic texture: a real 4K frame for the page, but a PNG that
    # compresses well, so that encoding and decoding it stays quick on a busy machine.
    x = np.arange(w, dtype=np.float32)
    y = np.arange(h, dtype=np.float32)[:, None]
    base = np.empty((h, w, 3), np.float32)
    base[:, :, 0] = 40 + 150 * x / w + 0 * y
    base[:, :, 1] = 40 + 150 * y / h + 0 * x
    base[:, :, 2] = 120 + 30 * np.sin(x / 9.0) * np.sin(y / 11.0)
    img = Image.fromarray(base.astype(np.uint8))
    ImageDraw.Draw(img).rectangle([1800, 1000, 1900, 1300], fill=(20, 20, 20))
    photo = tmp_path / "big.png"
    img.save(photo, compress_level=1)
    original = np.asarray(img)

    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#history li", timeout=20000)
    page.mouse.move(640, 400)
    for _ in range(3):  # zoom in and back out: the view is a CSS transform
        page.mouse.wheel(0, -240)
    page.click("#fit")
    points = [(1850.0, 960.0), (1850.0, 1340.0)]
    _paint(page, points, 140)
    result = _remove_and_download(page, tmp_path, "telea", 45)  # the page, not the engine, is on test

    assert result.shape == original.shape
    y0, y1, x0, x1 = 800, 1500, 1600, 2100  # the stroke lies inside this window
    outside = np.ones(original.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert (result[outside] == original[outside]).all(), "pixels far from the stroke changed"
    window = [(x - x0, y - y0) for x, y in points]
    dist = _stroke_distance((y1 - y0, x1 - x0), window)
    changed = (result[y0:y1, x0:x1] != original[y0:y1, x0:x1]).any(axis=2)
    assert not changed[dist > 70 + 2].any(), "pixels outside the stroke changed"
    box = result[1000:1301, 1800:1901].astype(float)
    assert box.mean() > 60, "the dark box is still there"


def test_studio_restore_colorize_upscale_in_a_row(page, tmp_path):
    ops = page.evaluate("window.photomendStudio.state.available")
    if not {"restore", "colorize", "upscale"} <= set(ops):
        pytest.skip(f"this build offers only {ops}")
    h, w = 240, 320
    grey = np.tile(np.linspace(60, 200, w, dtype=np.uint8), (h, 1))
    grey[20:220, 150:152] = 250  # a scratch
    photo = tmp_path / "scan.png"
    Image.fromarray(grey).save(photo)
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#history li")

    page.click("[role=tab][data-op=restore]")
    page.select_option("#opt-detector", "classical")
    page.click("#detect")
    page.wait_for_function("window.photomendStudio.state.detected === true", timeout=20000)
    page.click("#run")
    page.wait_for_function("document.querySelectorAll('#history li').length === 2", timeout=20000)

    page.click("[role=tab][data-op=colorize]")
    _paint(page, [(40.0, 120.0), (120.0, 120.0)], 20)
    page.click("#run")
    page.wait_for_function("document.querySelectorAll('#history li').length === 3", timeout=20000)

    page.click("[role=tab][data-op=upscale]")
    page.select_option("#opt-model", "bicubic")
    page.select_option("#opt-scale", "2")
    page.click("#run")
    page.wait_for_function("document.querySelectorAll('#history li').length === 4", timeout=20000)
    assert "failed" not in page.inner_text("#message")

    with page.expect_download() as info:
        page.click("#download")
    dest = tmp_path / "out.png"
    info.value.save_as(dest)
    with Image.open(dest) as im:
        out = np.asarray(im.convert("RGB")).astype(int)
    assert out.shape == (2 * h, 2 * w, 3)
    assert np.abs(out[40:440, 300:304] - 250).mean() > 30, "the scratch is still there"
    chroma = out[:, :, 2] - out[:, :, 0]
    assert chroma[200:280, 80:240].mean() > 10, "the blue hint did not colour the photo"
