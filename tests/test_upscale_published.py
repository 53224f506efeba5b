"""Published super-resolution weights: UpscalerJS (TF.js -> ONNX) and Real-ESRGAN (.pth -> ONNX).

Offline: tiny generated models stand in for the published weights.

* ``tests/data/tfjs_tiny/``: a small layers-model using every layer type the converter knows,
  and the output the original TF.js (4.11, Node) computed for it
  (``benchmarks/upscalerjs_parity.py --make-test-fixture``);
* ``tests/data/realesrgan_tiny/``: small RRDBNet / SRVGGNetCompact checkpoints saved by torch
  from the official modules, with the official modules' outputs
  (``benchmarks/realesrgan_parity.py --make-test-fixture``);
* ``tests/data/realesrgan_manifest.json``: every key and shape of the published checkpoints.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import json
import os
import pickle
import stat
import sys
import tarfile
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from photomend import zoo
from photomend.cli import main
from photomend.errors import ModelError, ModelMissingError, UnsupportedScaleError
from photomend.nn import onnx as nn_onnx
from photomend.upscaling import (
    available_upscalers,
    create_upscaler,
    realesrgan,
    tfjs,
    upscaler_class,
    zoo_entries,
)

DATA = Path(__file__).parent / "data"
TINY = DATA / "tfjs_tiny"
ESR = DATA / "realesrgan_tiny"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("PHOTOMEND_MODELS", str(folder))
    zoo.list_models()
    monkeypatch.setattr(zoo, "_REGISTRY", dict(zoo._REGISTRY))
    return folder


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    return nn_onnx.run_image(nn_onnx.session(path), x)


# --- TF.js layers-models ------------------------------------------------------------------
@pytest.mark.parametrize("input_range", [1, 255])
def test_tiny_layers_model_matches_tfjs(tmp_path, input_range):
    model = tfjs.read_layers_model_dir(TINY / "model.json")
    kinds = {layer["class_name"] for layer in model.layers}
    assert {"Conv2D", "Activation", "LeakyReLU", "Concatenate", "Add", "MultiplyBeta",
            "PixelShuffle2x", "UpSampling2D"} <= kinds
    dest = tmp_path / "tiny.onnx"
    tfjs.layers_model_to_onnx(model, input_range=input_range).save(dest)
    x = np.load(TINY / "input.npy")
    expected = np.load(TINY / f"tfjs_output_range{input_range}.npy")
    got = _run(dest, x)
    assert got.shape == expected.shape == (14, 18, 3)
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())


def _npm_tarball(path: Path, scale_dirs=("x2",), tamper: bytes = b"") -> Path:
    """An npm-style tarball holding the tiny model as ``package/models/x2/``."""
    with tarfile.open(path, "w:gz") as tar:
        pkg = json.dumps({"name": "@upscalerjs/esrgan-slim", "version": "1.0.0"}).encode()
        info = tarfile.TarInfo("package/package.json")
        info.size = len(pkg)
        tar.addfile(info, io.BytesIO(pkg))
        for d in scale_dirs:
            for f in sorted(TINY.glob("*")):
                if f.suffix in (".json", ".bin"):
                    data = f.read_bytes() + (tamper if f.suffix == ".bin" else b"")
                    info = tarfile.TarInfo(f"package/models/{d}/{f.name}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return path


def test_tarball_reader_equals_folder_reader(tmp_path):
    tgz = _npm_tarball(tmp_path / "p.tgz")
    a = tfjs.read_layers_model_tarball(tgz, "package/models/x2/model.json")
    b = tfjs.read_layers_model_dir(TINY / "model.json")
    assert a.weights.keys() == b.weights.keys()
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    with pytest.raises(ModelError, match="no package/models/x4/model.json"):
        tfjs.read_layers_model_tarball(tgz, "package/models/x4/model.json")


def test_truncated_or_padded_shards_are_refused(tmp_path):
    with pytest.raises(ModelError, match="manifest describes"):
        tfjs.read_layers_model_tarball(_npm_tarball(tmp_path / "a.tgz", tamper=b"\0" * 8),
                                       "package/models/x2/model.json")
    folder = tmp_path / "short"
    folder.mkdir()
    for f in TINY.glob("*"):
        (folder / f.name).write_bytes(f.read_bytes()[:-40] if f.suffix == ".bin" else
                                      f.read_bytes())
    with pytest.raises(ModelError, match="truncated"):
        tfjs.read_layers_model_dir(folder / "model.json")


def test_unsupported_layer_is_named():
    model = tfjs.read_layers_model_dir(TINY / "model.json")
    layer = next(x for x in model.layers if x["class_name"] == "MultiplyBeta")
    layer["class_name"] = "Lambda"
    with pytest.raises(ModelError, match="multiply_beta: unsupported layer type 'Lambda'"):
        tfjs.layers_model_to_onnx(model)


def _fake_npm(bin_dir: Path, tarball: Path | None, log: Path, fail: bool = False) -> None:
    """An ``npm`` on PATH: ``npm pack PKG --pack-destination DIR`` copies ``tarball``."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "npm"
    body = (f'echo "$@" >> "{log}"\n'
            'echo "npm ERR! 404 Not Found - @upscalerjs/esrgan-slim" >&2; exit 1\n' if fail else
            f'echo "$@" >> "{log}"\ncp "{tarball}" "$4/upscalerjs-esrgan-slim-1.0.0.tgz"\n')
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_slim(cache, tmp_path, monkeypatch):
    """esrgan-slim-x2 pointing at the tiny model's tarball (its SHA-256), fetched by a fake
    npm; returns (tarball, npm call log, bin dir)."""
    tgz = _npm_tarball(tmp_path / "upstream.tgz")
    sha = hashlib.sha256(tgz.read_bytes()).hexdigest()
    pkg = dataclasses.replace(zoo_entries.UPSCALERJS["slim"], sha256=sha)
    monkeypatch.setitem(zoo_entries.UPSCALERJS, "slim", pkg)
    zoo.register_model(dataclasses.replace(zoo.get_model("esrgan-slim-x2"), sha256=sha))
    log, bin_dir = tmp_path / "npm.log", tmp_path / "bin"
    _fake_npm(bin_dir, tgz, log)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tgz, log, bin_dir


def test_fetch_converts_and_upscales(fake_slim, cache, capsys):
    tgz, log, _ = fake_slim
    with pytest.raises(ModelMissingError, match="`photomend models fetch esrgan-slim-x2`"):
        create_upscaler("esrgan-slim", 2)
    assert main(["models", "fetch", "esrgan-slim-x2"]) == 0
    assert "pack @upscalerjs/esrgan-slim@1.0.0 --pack-destination" in log.read_text()
    record = zoo.read_record(cache / "esrgan-slim-x2.onnx")
    assert record["verified"] and record["source_sha256"] == zoo.sha256_of(tgz)
    # the UpscalerJS slim graph takes [0, 255]: the converted file maps [0, 1] -> [0, 1]
    x = np.load(TINY / "input.npy")
    expected = np.load(TINY / "tfjs_output_range255.npy")
    up = create_upscaler("esrgan-slim", 2)
    assert np.abs(up.upscale_tile(x, 2) - np.clip(expected, 0, 1)).max() < 1e-4
    # through the public verb, in tiles: same pixels as one call on the whole image
    import photomend

    img = np.random.default_rng(5).random((21, 26, 3), np.float32)
    whole = photomend.upscale(img, 2, model="esrgan-slim", tile=0)
    tiled = photomend.upscale(img, 2, model="esrgan-slim", tile=8, tile_pad=8)
    assert whole.shape == (42, 52, 3) and np.abs(whole - tiled).max() < 1e-5
    # the tarball is kept: a reinstall (or another scale of the package) needs no npm
    assert main(["models", "remove", "esrgan-slim-x2"]) == 0
    assert main(["models", "fetch", "esrgan-slim-x2"]) == 0
    assert len(log.read_text().splitlines()) == 1
    assert sorted(p.name for p in cache.iterdir()) == [
        "downloads", "esrgan-slim-x2.onnx", "esrgan-slim-x2.onnx.json"]


def test_fetched_tarball_with_wrong_sha_is_refused(fake_slim, cache, tmp_path, capsys):
    _, log, bin_dir = fake_slim
    _fake_npm(bin_dir, _npm_tarball(tmp_path / "evil.tgz", tamper=b"\1" * 4), log)
    assert main(["models", "fetch", "esrgan-slim-x2"]) == 2
    err = capsys.readouterr().err
    assert "is not the published esrgan-slim-x2 file" in err and len(err.splitlines()) == 1
    left = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert left == []  # no converted file, no partial file, no kept tarball


def test_npm_missing_or_failing(cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["models", "fetch", "esrgan-medium-x4"]) == 2
    assert "npm not found" in capsys.readouterr().err
    _fake_npm(tmp_path / "bin", None, tmp_path / "log", fail=True)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert main(["models", "fetch", "esrgan-medium-x4"]) == 2
    assert "npm pack @upscalerjs/esrgan-medium@1.0.0` failed: npm ERR! 404" in \
        capsys.readouterr().err
    assert not cache.exists() or [p for p in cache.rglob("*") if p.is_file()] == []


def test_import_of_a_tarball_needs_a_name(fake_slim, cache, capsys):
    tgz, _, _ = fake_slim
    assert main(["models", "import", str(tgz), "--name", "esrgan-slim-x2"]) == 0
    assert zoo.installed_path("esrgan-slim-x2") is not None


def test_registry_of_published_upscalers(cache):
    cls = upscaler_class("esrgan-thick")
    assert cls.traits.scales == (2, 3, 4, 8) and cls.traits.source == "zoo"
    assert cls.zoo_models(8) == ("esrgan-thick-x8",)
    with pytest.raises(ModelMissingError, match="photomend models fetch esrgan-thick-x4"):
        create_upscaler("esrgan-thick", 4)
    with pytest.raises(UnsupportedScaleError, match="supports x2, x3, x4, x8"):
        create_upscaler("esrgan-thick", 5)
    with pytest.raises(UnsupportedScaleError, match="supports x4"):
        create_upscaler("realesrgan-x4plus", 2)
    with pytest.raises(ModelMissingError,
                       match="download RealESRGAN_x4plus.pth .*`photomend models import "
                             "RealESRGAN_x4plus.pth`"):
        create_upscaler("realesrgan-x4plus", 4)
    for name in ("esrgan-slim-x3", "realesr-general-x4v3"):
        assert zoo.get_model(name).task == "upscale"


# --- Real-ESRGAN --------------------------------------------------------------------------
MANIFEST_ARCHS = {
    "RealESRGAN_x4plus": realesrgan.RRDBNetArch(scale=4),
    "RealESRGAN_x2plus": realesrgan.RRDBNetArch(scale=2),
    "RealESRGAN_x4plus_anime_6B": realesrgan.RRDBNetArch(scale=4, num_block=6),
    "realesr-general-x4v3": realesrgan.SRVGGNetArch(scale=4, num_conv=32),
    "realesr-animevideov3": realesrgan.SRVGGNetArch(scale=4, num_conv=16),
}


@pytest.mark.parametrize("name", sorted(MANIFEST_ARCHS))
def test_architectures_match_published_manifest(name):
    manifest = json.loads((DATA / "realesrgan_manifest.json").read_text())[name]
    shapes = MANIFEST_ARCHS[name].shapes()
    assert [[k, list(v)] for k, v in shapes.items()] == manifest
    release = next(r for r in zoo_entries.REALESRGAN.values() if r.filename == f"{name}.pth")
    assert release.arch == MANIFEST_ARCHS[name]


TINY_ARCHS = {
    "rrdb_x2": realesrgan.RRDBNetArch(scale=2, num_feat=8, num_block=2, num_grow_ch=4),
    "rrdb_x4": realesrgan.RRDBNetArch(scale=4, num_feat=8, num_block=1, num_grow_ch=4),
    "srvgg_x4": realesrgan.SRVGGNetArch(scale=4, num_feat=8, num_conv=3),
}


@pytest.mark.parametrize("name", sorted(TINY_ARCHS))
def test_conversion_matches_official_module(tmp_path, name):
    dest = tmp_path / f"{name}.onnx"
    realesrgan.convert_checkpoint(ESR / f"{name}.pth", dest, TINY_ARCHS[name])
    got = _run(dest, np.load(ESR / "input.npy"))
    expected = np.load(ESR / f"{name}_output.npy")
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5


def test_checkpoint_keys_params_ema_params_and_bare():
    assert len(realesrgan.load_state_dict(ESR / "rrdb_x2.pth")) == 2 + 2 * 15 * 2 + 10  # ema
    assert "conv_first.weight" in realesrgan.load_state_dict(ESR / "rrdb_x4.pth")  # params
    assert "body.1.weight" in realesrgan.load_state_dict(ESR / "srvgg_x4.pth")  # bare


def test_wrong_architecture_names_the_first_mismatch(tmp_path):
    with pytest.raises(ModelError, match=r"rrdb_x4.pth is not a RRDBNet x4 \(23 blocks.*key "
                                         r"'conv_first.weight' has shape \[8, 3, 3, 3\], "
                                         r"expected \[64, 3, 3, 3\]"):
        realesrgan.convert_checkpoint(ESR / "rrdb_x4.pth", tmp_path / "o", MANIFEST_ARCHS[
            "RealESRGAN_x4plus"])
    with pytest.raises(ModelError, match="key 'conv_first.weight' .* is missing"):
        realesrgan.convert_checkpoint(ESR / "srvgg_x4.pth", tmp_path / "o",
                                      TINY_ARCHS["rrdb_x4"])
    with pytest.raises(ModelError, match="unexpected key 'body.1.rdb1.conv1.weight'"):
        realesrgan.convert_checkpoint(ESR / "rrdb_x2.pth", tmp_path / "o",
                                      dataclasses.replace(TINY_ARCHS["rrdb_x2"], num_block=1))
    assert not (tmp_path / "o").exists()


def test_checkpoint_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    bad = tmp_path / "evil.pth"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"params": Evil()}))
    with pytest.raises(ModelError, match="holds a (posix|nt).system object"):
        realesrgan.load_state_dict(bad)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError):
        realesrgan.load_state_dict(tmp_path / "junk.pth")


def _write_pth(path: Path, state: dict[str, np.ndarray], key: str | None,
               monkeypatch) -> None:
    """Save ``state`` the way ``torch.save`` does (zip + pickle of storages), without torch."""

    def _rebuild_tensor_v2(*args):  # stand-ins, only their names are pickled
        raise AssertionError

    class FloatStorage:
        pass

    fake_torch, fake_utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = ("torch._utils",
                                                                        "_rebuild_tensor_v2")
    fake_torch.FloatStorage, fake_utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.setitem(sys.modules, "torch._utils", fake_utils)

    class Storage:
        def __init__(self, key: str, numel: int) -> None:
            self.key, self.numel = key, numel

    class Tensor:
        def __init__(self, storage: Storage, shape: tuple[int, ...]) -> None:
            self.storage, self.shape = storage, shape

        def __reduce__(self):
            strides = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
            return (_rebuild_tensor_v2, (self.storage, 0, self.shape, strides, False,
                                         collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
            return None

    tensors = collections.OrderedDict()
    with zipfile.ZipFile(path, "w") as z:
        for i, (name, array) in enumerate(state.items()):
            z.writestr(f"archive/data/{i}", np.ascontiguousarray(array, "<f4").tobytes())
            tensors[name] = Tensor(Storage(str(i), array.size), array.shape)
        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump({key: tensors} if key else tensors)
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/version", "3\n")
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.delitem(sys.modules, "torch._utils")


def _random_state(arch, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: (rng.standard_normal(s, dtype=np.float32) * 0.02) for k, s in
            arch.shapes().items()}


def test_x2plus_input_is_padded_to_even():
    # pixel-unshuffle needs even sizes (the x2 path itself: test_conversion_matches_official...)
    assert upscaler_class("realesrgan-x2plus").traits.pad_multiple == 2


@pytest.mark.parametrize("name, key", [("realesr-general-x4v3", "params")])
def test_import_published_shapes_end_to_end(cache, tmp_path, monkeypatch, capsys, name, key):
    release = zoo_entries.REALESRGAN[name]
    pth = tmp_path / release.filename
    _write_pth(pth, _random_state(release.arch, 0), key, monkeypatch)
    assert main(["models", "import", str(pth)]) == 0  # recognised by its published file name
    captured = capsys.readouterr()
    assert f"installed {name}" in captured.out + captured.err
    up = create_upscaler(name, release.arch.scale)
    x = np.random.default_rng(1).random((9, 11, 3), np.float32)
    s = release.arch.scale
    out = up.upscale_tile(x, s)
    assert out.shape == (9 * s, 11 * s, 3) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_import_of_wrong_architecture_is_refused(cache, tmp_path, monkeypatch, capsys):
    pth = tmp_path / "RealESRGAN_x4plus.pth"  # named like x4plus but holds a general-x4v3
    _write_pth(pth, _random_state(zoo_entries.REALESRGAN["realesr-general-x4v3"].arch, 0),
               "params", monkeypatch)
    assert main(["models", "import", str(pth)]) == 2
    err = capsys.readouterr().err
    assert "is not a RRDBNet x4" in err and "'conv_first.weight' (shape [64, 3, 3, 3]) is " \
        "missing" in err
    assert [p for p in cache.iterdir()] == [] if cache.exists() else True


@pytest.mark.parametrize("name", sorted(n for n, t in available_upscalers().items()
                                         if t.source == "zoo"))
def test_every_published_upscaler_has_zoo_entries(cache, name):
    cls = upscaler_class(name)
    assert cls.traits.source == "zoo" and cls.installed_scales() == ()
    for scale in cls.traits.scales:
        (entry,) = cls.zoo_models(scale)
        spec = zoo.get_model(entry)
        assert spec.scale == scale and spec.task == "upscale" and spec.convert is not None
        assert spec.filename.endswith(".onnx") and spec.license in ("MIT", "BSD-3-Clause")
        with pytest.raises(ModelMissingError, match="photomend models (fetch|import) "):
            cls.check(scale)
