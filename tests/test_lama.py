"""LaMa network and weight loading (photomend.lama): key/shape manifest of Big-LaMa, every
loading path on generated checkpoints with the official key names, and bad weight files."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from photomend.errors import ModelArchitectureError, ModelError, OptionalDependencyError  # noqa: E402
from photomend.lama import config as lc  # noqa: E402
from photomend.lama.loading import (  # noqa: E402
    build_generator,
    load_generator,
    read_weights,
    require_torch,
    save_converted,
)
from photomend.lama.model import LamaGenerator  # noqa: E402
from photomend.lama.runner import pad_to_multiple, predict  # noqa: E402
from photomend.lama.synthetic import (  # noqa: E402
    lightning_checkpoint,
    random_state,
    torchscript_module,
)

# torch.jit is deprecated upstream, but IOPaint's big-lama.pt is a TorchScript file.
pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning"),
              pytest.mark.usefixtures("one_torch_thread")]

SMALL = lc.LamaConfig(ngf=4, n_blocks=2)


@pytest.fixture(scope="module")
def state():
    return random_state(SMALL, seed=3)


@pytest.fixture(scope="module")
def reference(state):
    return build_generator(state)


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 40, 56, generator=g)
    mask = (torch.rand(1, 1, 40, 56, generator=g) > 0.6).float()
    return image, mask, torch.cat([image * (1 - mask), mask], dim=1)


def _manifest() -> dict:
    path = resources.files("photomend") / "data" / "manifests" / "big_lama_keys.json"
    return json.loads(path.read_text())


# --- architecture ------------------------------------------------------------------------------

def test_big_lama_keys_and_shapes_match_the_committed_manifest():
    doc = _manifest()
    manifest = [(k, tuple(s)) for k, s in doc["keys"]]
    assert list(lc.expected_shapes(lc.BIG_LAMA).items()) == manifest  # names, shapes, order
    with torch.device("meta"):  # the real module, without allocating 200 MB
        module = LamaGenerator(lc.BIG_LAMA)
    assert [(k, tuple(v.shape)) for k, v in module.state_dict().items()] == manifest
    assert lc.parameter_count(lc.BIG_LAMA) == doc["parameters"] == 50_975_875
    assert lc.infer_config(dict(manifest)) == lc.BIG_LAMA


@pytest.mark.parametrize("cfg", [
    SMALL,
    lc.LamaConfig(ngf=8, n_blocks=1, n_downsampling=2),
    lc.LamaConfig(ngf=4, n_blocks=3, ratio_g=0.5),
    lc.LamaConfig(ngf=64, n_blocks=9),  # LaMa-Fourier (ffc_resnet_075)
])
def test_config_is_read_back_from_shapes(cfg):
    shapes = lc.expected_shapes(cfg)
    assert lc.infer_config(shapes) == cfg
    assert lc.first_mismatch(shapes, cfg) is None


def test_generator_output_shape_range_and_decoder_features(reference, batch):
    _, _, x = batch
    with torch.inference_mode():
        out, feats = reference(x, with_features=True)
    assert out.shape == (1, 3, 40, 56)
    assert 0.0 <= out.min().item() and out.max().item() <= 1.0  # sigmoid
    assert feats.shape == (1, 16, 10, 14)  # after the first up-convolution: 1/4 resolution
    with torch.inference_mode():
        assert torch.equal(reference(x), out)  # deterministic, features do not change it


# --- loading paths -----------------------------------------------------------------------------

def _save_lightning(state, path, **extra):
    torch.save(lightning_checkpoint(state, extra=extra), path)


@pytest.mark.parametrize("kind", ["lightning", "lightning-extra-classes", "prefixed", "bare",
                                  "torchscript", "converted"])
def test_every_loading_path_gives_the_same_network(kind, state, reference, batch, tmp_path):
    path = tmp_path / "weights"
    if kind == "lightning":
        _save_lightning(state, path)
    elif kind == "lightning-extra-classes":  # hyper-parameters that weights_only refuses
        _save_lightning(state, path, hyper_parameters=argparse.Namespace(lr=1e-3))
    elif kind == "prefixed":
        torch.save({f"generator.{k}": v for k, v in state.items()}, path)
    elif kind == "bare":
        torch.save(state, path)
    elif kind == "torchscript":
        torchscript_module(state, SMALL).save(str(path))
    else:
        save_converted(state, SMALL, path)
    loaded, got_kind = read_weights(path)
    assert got_kind == {"lightning": "checkpoint", "lightning-extra-classes": "checkpoint",
                        "prefixed": "checkpoint", "bare": "checkpoint"}.get(kind, kind)
    assert set(loaded) == set(state)
    gen = load_generator(path)
    x = batch[2]
    with torch.inference_mode():
        assert torch.equal(gen(x), reference(x))


def test_torchscript_file_and_photomend_agree(state, reference, batch, tmp_path):
    """IOPaint's big-lama.pt computes mask·pred + (1−mask)·image: so does our path."""
    image, mask, _ = batch
    jit = torchscript_module(state, SMALL)
    jit.save(str(tmp_path / "big-lama.pt"))
    jit = torch.jit.load(str(tmp_path / "big-lama.pt"))
    with torch.inference_mode():
        expected = jit(image, mask)[0].permute(1, 2, 0).numpy()
    img = image[0].permute(1, 2, 0).numpy()
    hole = mask[0, 0].numpy() > 0.5
    pred, _ = predict(load_generator(tmp_path / "big-lama.pt"), img, hole)
    got = np.where(hole[..., None], pred, img)
    assert np.abs(got - expected).max() < 1e-5


def test_missing_batchnorm_counters_are_accepted(state, reference, batch, tmp_path):
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": {f"generator.{k}": v for k, v in old.items()}}, tmp_path / "a")
    with torch.inference_mode():
        assert torch.equal(load_generator(tmp_path / "a")(batch[2]), reference(batch[2]))


# --- runner ------------------------------------------------------------------------------------

@pytest.mark.parametrize("hw", [(37, 53), (8, 8), (5, 3), (64, 40)])
def test_predict_pads_to_a_multiple_of_8_and_crops_back(reference, hw):
    rng = np.random.default_rng(1)
    image = rng.random((*hw, 3), dtype=np.float32)
    mask = np.zeros(hw, bool)
    mask[hw[0] // 3 : hw[0] // 2 + 1, hw[1] // 3 : hw[1] // 2 + 1] = True
    before = image.copy()
    pred, feats = predict(reference, image, mask, with_features=True)
    assert pred.shape == (*hw, 3) and pred.dtype == np.float32
    assert feats.shape == (-(-hw[0] // 4), -(-hw[1] // 4), 16)
    assert np.array_equal(image, before)  # the caller's array is untouched
    # The padded network input is the image mirrored, hole zeroed, mask as 4th channel.
    padded = pad_to_multiple(np.dstack([image * ~mask[..., None], mask]), 8, min_side=16)
    x = torch.from_numpy(padded.transpose(2, 0, 1).copy())[None]
    with torch.inference_mode():
        direct = reference(x)[0, :, : hw[0], : hw[1]].permute(1, 2, 0).numpy()
    assert np.abs(direct - pred).max() < 1e-6


def test_pad_is_symmetric_like_the_official_predictor():
    a = np.arange(5, dtype=np.float32).reshape(1, 5)
    assert pad_to_multiple(a, 8)[0].tolist() == [0, 1, 2, 3, 4, 4, 3, 2]
    assert pad_to_multiple(a, 8, min_side=16).shape == (16, 16)


# --- bad weight files --------------------------------------------------------------------------

def test_wrong_shape_names_the_first_mismatching_key_and_shape(state, tmp_path):
    bad = dict(state)
    bad["model.5.conv2.ffc.convg2l.weight"] = torch.zeros(6, 24, 1, 1)
    _save_lightning(bad, tmp_path / "best.ckpt")
    with pytest.raises(ModelArchitectureError) as err:
        load_generator(tmp_path / "best.ckpt")
    msg = str(err.value)
    assert "'model.5.conv2.ffc.convg2l.weight'" in msg and "(6, 24, 1, 1)" in msg
    assert "expected (8, 24, 3, 3)" in msg and "\n" not in msg


def test_missing_and_unexpected_keys_are_named(state, tmp_path):
    bad = {k: v for k, v in state.items() if k != "model.6.conv1.ffc.convl2g.weight"}
    torch.save(bad, tmp_path / "a.pth")
    with pytest.raises(ModelArchitectureError, match=r"missing key 'model\.6\.conv1\.ffc\.convl2g"):
        load_generator(tmp_path / "a.pth")
    extra = dict(state)
    extra["model.6.conv1.ffc.gate.weight"] = torch.zeros(2, 32, 1, 1)
    torch.save(extra, tmp_path / "b.pth")
    with pytest.raises(ModelArchitectureError,
                       match=r"unexpected key 'model\.6\.conv1\.ffc\.gate"):
        load_generator(tmp_path / "b.pth")


def test_expected_config_is_enforced(state, tmp_path):
    torch.save(state, tmp_path / "small.pth")
    with pytest.raises(ModelArchitectureError,
                       match=r"model\.1\.ffc\.convl2l\.weight.*\(4, 4, 7, 7\)"):
        load_generator(tmp_path / "small.pth", expect=lc.BIG_LAMA)


def test_other_networks_are_refused(tmp_path):
    torch.save({"state_dict": {"encoder.0.weight": torch.zeros(3)}}, tmp_path / "other.ckpt")
    with pytest.raises(ModelArchitectureError, match="no LaMa generator weights.*encoder.0.weight"):
        load_generator(tmp_path / "other.ckpt")
    # A pix2pixHD-style generator: 'model.<i>' keys but no Fourier convolutions.
    torch.save({"model.1.weight": torch.zeros(64, 4, 7, 7)}, tmp_path / "p2p.pth")
    with pytest.raises(ModelArchitectureError,
                       match=r"missing key 'model\.1\.ffc\.convl2l\.weight'"):
        load_generator(tmp_path / "p2p.pth")


def test_torchscript_that_is_not_lama(tmp_path):
    net = torch.jit.trace(torch.nn.Conv2d(3, 3, 3).eval(), torch.rand(1, 3, 8, 8))
    net.save(str(tmp_path / "big-lama.pt"))
    with pytest.raises(ModelArchitectureError, match="TorchScript file but not LaMa"):
        read_weights(tmp_path / "big-lama.pt")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04broken zip"])
def test_unreadable_files(tmp_path, content):
    path = tmp_path / "big-lama.pt"
    path.write_bytes(content)
    with pytest.raises(ModelError) as err:
        read_weights(path)
    assert "\n" not in str(err.value)
    with pytest.raises(ModelError, match="no such file"):
        read_weights(tmp_path / "absent.ckpt")


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_checkpoints_cannot_run_code(state, tmp_path):
    _Payload.marker = tmp_path / "pwned"
    ckpt = lightning_checkpoint(state, extra={"callbacks": _Payload()})
    torch.save(ckpt, tmp_path / "evil.ckpt", pickle_module=pickle)
    load_generator(tmp_path / "evil.ckpt")
    assert not _Payload.marker.exists()


# --- torch stays optional ----------------------------------------------------------------------

def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(OptionalDependencyError, match=r"photomend\[torch\]"):
        require_torch()


def test_importing_the_engines_and_the_zoo_never_imports_torch():
    code = ("import sys, photomend, photomend.engines, photomend.api, photomend.lama, "
            "photomend.zoo as z; z.list_models(); "
            "from photomend.engines import engine_readiness; engine_readiness('lama'); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
