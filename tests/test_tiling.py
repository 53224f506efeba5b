"""Tests of photomend.upscaling.tiling: cores cover the image once; tiled == untiled; memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from photomend.upscaling import create_upscaler
from photomend.upscaling.api import upscale_array
from photomend.upscaling.tiling import store, tile_edges, tile_grid, upscale_tiled


@pytest.mark.parametrize("length,tile", [(1, 4), (10, 4), (512, 512), (513, 512), (1000, 96)])
def test_cores_cover_each_pixel_once(length, tile):
    edges = tile_edges(length, tile)
    assert edges[0] == 0 and edges[-1] == length
    sizes = np.diff(edges)
    assert sizes.min() >= 1 and sizes.max() <= max(tile, 1) and sizes.max() - sizes.min() <= 1
    cover = np.zeros((length, 7), int)
    for y0, y1, x0, x1 in tile_grid(length, 7, tile):
        cover[y0:y1, x0:x1] += 1
    assert (cover == 1).all()


def _photo(h: int = 90, w: int = 130) -> np.ndarray:
    import skimage.data

    return skimage.data.chelsea()[60:60 + h, 100:100 + w].astype(np.float32) / 255.0


@pytest.mark.parametrize("model,scale", [("compact", 2), ("compact", 4), ("lanczos", 3)])
def test_tiled_equals_untiled(model, scale):
    """With tile_pad >= the receptive field, tiling changes nothing, borders included."""
    img = _photo()
    whole = upscale_array(img, scale, model=model, tile=0)
    tiled = upscale_array(img, scale, model=model, tile=32, tile_pad=8)
    assert tiled.shape == whole.shape
    assert np.abs(tiled - whole).max() <= 1 / 255


def test_too_little_context_shows_seams_only_near_cores():
    """The other side of the same claim: tile_pad=0 differs, so the test above can fail."""
    img = _photo()
    whole = upscale_array(img, 2, model="compact", tile=0)
    tiled = upscale_array(img, 2, model="compact", tile=32, tile_pad=0)
    assert np.abs(tiled - whole).max() > 2 / 255


def test_store_rounds_like_io():
    from photomend.io import to_uint8, to_uint16

    x = np.linspace(-0.1, 1.1, 101, dtype=np.float32)
    assert np.array_equal(store(x, np.uint8), to_uint8(x))
    assert np.array_equal(store(x, np.uint16), to_uint16(x))
    img = _photo(20, 30)
    up = create_upscaler("compact", 2)
    as8 = upscale_tiled(img, 2, lambda t: up.upscale_tile(t, 2), tile=8, out_dtype=np.uint8)
    assert np.array_equal(as8, to_uint8(upscale_array(img, 2)))


def test_large_x2_in_bounded_memory(tmp_path):
    """The whole CLI path (decode, tiles, 8-bit output, JPEG encode) of a 3000x2000 photo x2:
    about 4 bytes per output pixel (input as float32, output as uint8, encoder copy), under
    550 MB with the interpreter. A float32 copy of the output (288 MB) would break it. The
    6000x4000 x2 run of the compact model (target: <= 2 GB) is in benchmarks/bench_upscale.py.
    Bicubic keeps the test fast; the model only changes per-tile memory."""
    src = tmp_path / "big.jpg"
    small = (_photo(40, 60) * 255).astype(np.uint8)
    Image.fromarray(small).resize((3000, 2000), Image.BILINEAR).save(src, quality=80)
    out = tmp_path / "big_x2.jpg"
    code = textwrap.dedent(f"""
        import json, sys
        from photomend.cli import main
        code = main(["upscale", {str(src)!r}, "-s", "2", "-o", {str(out)!r}, "--model",
                     "bicubic", "-q", "--quality", "80"])
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
        print(json.dumps({{"code": code, "peak_mb": int(hwm) / 1024}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    rec = json.loads(done.stdout.strip().splitlines()[-1])
    assert rec["code"] == 0
    with Image.open(out) as im:
        assert im.size == (6000, 4000)
    assert rec["peak_mb"] < 550, rec
