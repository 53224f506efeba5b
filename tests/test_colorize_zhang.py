"""The Zhang et al. networks: key/shape manifests, checkpoint import, ONNX graphs, --method auto.

Checkpoints are generated here with exactly the published key names and shapes (from the
committed manifests), written in PyTorch's zip format by a small writer (no torch needed), and
imported through ``photomend models import``. Weights are chosen so the output is known in
closed form. The numerical comparison against the reference PyTorch modules on random
weights is in docs/colorize.md (it needs the original project's source, kept out of the repo).
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photomend import zoo
from photomend.cli import main
from photomend.colorization import colorize, zhang
from photomend.colorization.colorspace import chroma, lab_to_rgb
from photomend.errors import ModelArchitectureError, ModelMissingError

ARCHES = ("eccv16", "siggraph17")


# --- a torch.save-compatible writer (zip format, protocol-2 pickle written by hand) ---------
def write_torch_zip(state: dict[str, np.ndarray], path: Path) -> None:
    """Write ``state`` as ``torch.save`` does: archive/data.pkl plus one file per storage."""
    out = io.BytesIO()

    def text(s: str) -> None:
        b = s.encode()
        out.write(b"X" + struct.pack("<I", len(b)) + b)

    def integer(n: int) -> None:
        out.write(b"J" + struct.pack("<i", n))

    def ints(values) -> None:
        out.write(b"(")
        for v in values:
            integer(int(v))
        out.write(b"t")

    out.write(b"\x80\x02ccollections\nOrderedDict\n)R(")
    for key, (name, arr) in enumerate(state.items()):
        text(name)
        out.write(b"ctorch._utils\n_rebuild_tensor_v2\n(")
        out.write(b"(")
        text("storage")
        out.write(b"ctorch\nFloatStorage\n")
        text(str(key))
        text("cpu")
        integer(arr.size)
        out.write(b"tQ")
        integer(0)
        ints(arr.shape)
        strides = [int(np.prod(arr.shape[i + 1:])) for i in range(arr.ndim)]
        ints(strides)
        out.write(b"\x89ccollections\nOrderedDict\n)Rt")
        out.write(b"R")
    out.write(b"u.")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", out.getvalue())
        z.writestr("archive/byteorder", "little")
        for key, arr in enumerate(state.values()):
            z.writestr(f"archive/data/{key}", np.ascontiguousarray(arr, "<f4").tobytes())
        z.writestr("archive/version", "3\n")


def known_answer_state(arch: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Weights of the published shapes whose output is a constant ab, and that ab.

    Every convolution is zero; batch norm is the identity; only the last layers carry values:
    ECCV16: the class logits (model8.6.bias) and the class -> ab matrix (model_out.weight);
    SIGGRAPH17: the regression bias (model_out.0.bias, through tanh).
    """
    state = {}
    for key, shape in zhang.manifest(arch).items():
        value = np.zeros(shape, np.float32)
        if key.endswith("running_var") or (key.endswith(".weight") and len(shape) == 1):
            value[:] = 1.0
        state[key] = value
    rng = np.random.default_rng(1)
    if arch == "eccv16":
        logits = rng.normal(0, 2, 313).astype(np.float32)
        classes = rng.uniform(-1, 1, (2, 313)).astype(np.float32)
        state["model8.6.bias"] = logits
        state["model_out.weight"] = classes.reshape(2, 313, 1, 1)
        p = np.exp(logits - logits.max())
        ab = 110.0 * classes @ (p / p.sum())
    else:
        state["model_out.0.bias"] = np.array([math.atanh(0.4), math.atanh(-0.3)], np.float32)
        ab = 110.0 * np.array([0.4, -0.3])
    return state, ab.astype(np.float32)


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("PHOTOMEND_MODELS", str(folder))
    return folder


@pytest.mark.parametrize("arch", ARCHES)
def test_architecture_table_matches_published_manifest(arch):
    expected = {k: list(v) for k, v in zhang.expected_shapes(arch).items()}
    published = zhang.manifest(arch)
    assert list(expected) == list(published)  # same keys, same order
    assert expected == published
    params = sum(math.prod(s) for s in published.values())
    assert params == {"eccv16": 32_241_003, "siggraph17": 34_192_787}[arch]


def test_zoo_entries_are_registered():
    specs = {s.name: s for s in zoo.list_models(task="colorize")}
    assert set(zhang.MODELS) <= set(specs)
    for name in zhang.MODELS:
        assert specs[name].convert is not None and specs[name].license == "BSD-2-Clause"
        assert specs[name].published_filename in specs[name].source


def test_auto_without_weights_says_how_to_get_them(models_dir, capsys):
    grey = np.full((32, 32), 128, np.uint8)
    with pytest.raises(ModelMissingError) as err:
        colorize(grey, method="auto")
    message = str(err.value)
    assert "photomend models fetch zhang-siggraph17" in message and "zhang-eccv16" in message
    assert "onnx" not in message and "--" not in message and len(message) < 200
    assert main(["colorize", "x.png", "-o", "y.png", "--method", "auto"]) == 2
    for name in zhang.MODELS:
        assert "models fetch" in zoo.get_model(name).instructions()


def test_no_hints_no_reference_no_network_is_one_short_line(models_dir, tmp_path, capsys):
    """The first thing a user tries: `photomend colorize old.jpg -o out.jpg`."""
    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(tmp_path / "old.png")
    assert main(["colorize", str(tmp_path / "old.png"), "-o", str(tmp_path / "out.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and len(err) < 200, err
    assert err.startswith("photomend: error: nothing to take colours from")
    for needle in ("--hints FILE", "--reference FILE", "photomend models fetch zhang-siggraph17"):
        assert needle in err
    assert "onnx" not in err
    assert not (tmp_path / "out.png").exists()


def test_fetch_downloads_the_published_file(models_dir, tmp_path, monkeypatch):
    """`models fetch zhang-*` downloads the source URL (here a file:// URL) and converts it."""
    monkeypatch.setattr(zhang, "NET_SIZE", 64)
    state, _ = known_answer_state("eccv16")
    spec = zoo.get_model("zhang-eccv16")
    source = tmp_path / spec.published_filename
    write_torch_zip(state, source)
    monkeypatch.setattr(zoo, "_REGISTRY", dict(zoo._REGISTRY))
    zoo._REGISTRY[spec.name] = replace(spec, source=source.as_uri())
    assert main(["models", "fetch", "zhang-eccv16", "-q"]) == 0
    assert zoo.installed_path("zhang-eccv16") is not None


@pytest.mark.parametrize("arch", ARCHES)
def test_import_checkpoint_and_known_answer(arch, models_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(zhang, "NET_SIZE", 64)  # the published 256 works alike, only slower
    state, ab = known_answer_state(arch)
    name = f"zhang-{arch}"
    published = zoo.get_model(name).published_filename
    source = tmp_path / published
    write_torch_zip(state, source)
    # `models import FILE` recognises the published file name.
    assert main(["models", "import", str(source), "-q"]) == 0
    path = zoo.model_path(name)
    lightness = np.linspace(0, 100, 32 * 32, dtype=np.float32).reshape(32, 32)
    out = zhang.run_network(path, lightness, size=32)
    assert out.shape == (32, 32, 2)
    np.testing.assert_allclose(out, np.broadcast_to(ab, out.shape), atol=1e-3)
    # End to end: the chroma of the photo is the chroma of (L, ab) at every pixel.
    grey = np.tile(np.linspace(40, 220, 48, dtype=np.uint8), (40, 1))
    result = colorize(grey, method="auto", model=name)
    y = result.astype(np.float64) @ [0.299, 0.587, 0.114]
    assert np.abs(y - grey).max() <= 1.0
    got = chroma(result[20, 24].astype(np.float32) / 255)
    from photomend.colorization.colorspace import rgb_to_lab

    lab = np.array([[[rgb_to_lab(np.full((1, 1, 3), grey[20, 24] / 255.0))[0, 0, 0], *ab]]])
    want = chroma(lab_to_rgb(lab))[0, 0]
    np.testing.assert_allclose(got, want, atol=3 / 255)


def test_wrong_architecture_is_refused_with_the_first_bad_key(models_dir, tmp_path):
    state, _ = known_answer_state("eccv16")
    state["model4.2.weight"] = np.zeros((512, 512, 1, 1), np.float32)
    source = tmp_path / "broken.pth"
    write_torch_zip(state, source)
    with pytest.raises(ModelArchitectureError, match=r"model4\.2\.weight.*\[512, 512, 1, 1\]"):
        zoo.install_file("zhang-eccv16", source)
    assert zoo.installed_path("zhang-eccv16") is None
    del state["model4.2.weight"]
    write_torch_zip(state, source)
    with pytest.raises(ModelArchitectureError, match="missing"):
        zoo.install_file("zhang-eccv16", source)


def test_siggraph_checkpoint_is_not_eccv(models_dir, tmp_path):
    state, _ = known_answer_state("siggraph17")
    source = tmp_path / "s.pth"
    write_torch_zip(state, source)
    with pytest.raises(ModelArchitectureError, match="ECCV16"):
        zoo.install_file("zhang-eccv16", source)


def test_siggraph17_receives_the_hints_as_ab_points(models_dir, tmp_path, monkeypatch):
    state, _ = known_answer_state("siggraph17")
    source = tmp_path / "siggraph17-df00044c.pth"
    write_torch_zip(state, source)
    zoo.install_file("zhang-siggraph17", source)
    monkeypatch.setattr(zhang, "NET_SIZE", 32)
    seen = {}
    real = zhang.run_network

    def spy(path, lightness, **kwargs):
        seen.update(kwargs)
        return real(path, lightness, **kwargs)

    monkeypatch.setattr(zhang, "run_network", spy)
    grey = np.full((64, 64), 120, np.uint8)
    hints = {"points": [{"x": 10, "y": 10, "color": "#c03020", "radius": 1}]}
    out = colorize(grey, method="auto", hints=hints)
    mask, ab = seen["hint_mask"], seen["hint_ab"]
    assert mask.shape == (32, 32) and 1 <= mask.sum() <= 4 and mask[5, 5] == 1
    assert ab[5, 5, 0] > 20  # red: a > 0
    assert out[10, 10, 0] > out[10, 10, 2]  # the hinted pixel is red
