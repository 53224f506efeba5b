"""The ``lama`` engine end to end on generated weights: readiness, ``models import``, the API and
CLI with ``--engine lama``, compositing, CRA with both attention sources, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from photomend import remove  # noqa: E402
from photomend.cli import main  # noqa: E402
from photomend.engines import create_engine, engine_readiness  # noqa: E402
from photomend.errors import InputError, ModelMissingError  # noqa: E402
from photomend.hd import run_strategy  # noqa: E402
from photomend.lama.config import LamaConfig  # noqa: E402
from photomend.lama.runner import cached_generator, predict  # noqa: E402
from photomend.lama.synthetic import (  # noqa: E402
    lightning_checkpoint,
    random_state,
    torchscript_module,
)

TINY = LamaConfig(ngf=4, n_blocks=1)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Generated published-style files: best.ckpt (Lightning) and big-lama.pt (TorchScript)."""
    folder = tmp_path_factory.mktemp("published")
    state = random_state(TINY, seed=7)
    torch.save(lightning_checkpoint(state), folder / "best.ckpt")
    torchscript_module(state, TINY).save(str(folder / "big-lama.pt"))
    return folder


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, files):
    """A model cache with big-lama installed (through the CLI) from the TorchScript file."""
    cache = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PHOTOMEND_MODELS", str(cache))
        assert main(["models", "import", str(files / "big-lama.pt"), "--quiet"]) == 0
    return cache


@pytest.fixture
def installed(models_dir, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(models_dir))
    monkeypatch.delenv("PHOTOMEND_LAMA_ATTENTION", raising=False)
    return models_dir


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def _scene(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin(xx / 3.0)], axis=2)
    img = np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1).astype(np.float32)
    mask = np.zeros((h, w), bool)
    mask[h // 3 : h // 2, w // 3 : w // 2] = True
    return img, mask


# --- not ready -----------------------------------------------------------------------------------

def test_missing_weights_say_the_models_import_command(empty_cache, capsys):
    problem = engine_readiness("lama")
    assert "photomend models import big-lama.pt" in problem
    with pytest.raises(ModelMissingError, match="photomend models import"):
        create_engine("lama")
    img, mask = _scene()
    with pytest.raises(ModelMissingError):
        remove(img, mask, engine="lama")
    assert main(["engines"]) == 0
    out = capsys.readouterr().out
    lama_lines = [line for line in out.splitlines() if line.startswith("lama")]
    assert "not ready" in lama_lines[0]
    assert "models import" in out and out.splitlines()[0].split()[1] == "ready"


def test_cli_remove_without_weights_is_one_line_and_exit_2(empty_cache, tmp_path, capsys):
    from PIL import Image

    img, mask = _scene()
    Image.fromarray((img * 255).astype(np.uint8)).save(tmp_path / "p.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "m.png")
    code = main(["remove", str(tmp_path / "p.png"), "-m", str(tmp_path / "m.png"),
                 "-o", str(tmp_path / "o.png"), "--engine", "lama"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "models import" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_import_of_a_wrong_architecture_names_the_key(empty_cache, files, tmp_path, capsys):
    state = random_state(TINY, seed=1)
    state["model.5.conv1.ffc.convl2l.weight"] = torch.zeros(8, 8, 1, 1)
    torch.save(lightning_checkpoint(state), tmp_path / "best.ckpt")
    code = main(["models", "import", str(tmp_path / "best.ckpt"), "--name", "big-lama"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "'model.5.conv1.ffc.convl2l.weight' has shape (8, 8, 1, 1), expected (8, 8, 3, 3)" in err
    assert not empty_cache.exists() or not list(empty_cache.glob("big-lama*"))


def test_weights_installed_but_no_torch_names_the_extra(installed, monkeypatch):
    import sys

    from photomend.engines import lama as lama_engine
    from photomend.errors import OptionalDependencyError

    monkeypatch.setattr(lama_engine, "_has", lambda module: False)
    monkeypatch.setitem(sys.modules, "torch", None)
    assert "photomend[torch]" in engine_readiness("lama")
    with pytest.raises(OptionalDependencyError, match=r"pip install 'photomend\[torch\]'"):
        create_engine("lama")


def test_unknown_attention_source(installed):
    with pytest.raises(InputError, match="attention"):
        create_engine("lama", attention="telepathy")


# --- ready ---------------------------------------------------------------------------------------

def test_readiness_and_both_import_paths(installed, files, capsys):
    assert engine_readiness("lama") is None
    # The Lightning checkpoint is recognised with --name (its file name is generic).
    assert main(["models", "import", str(files / "best.ckpt"), "--name", "big-lama",
                 "--quiet"]) == 0
    assert main(["engines"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("lama"))
    assert line.split()[1] == "ready"


def test_engine_composites_the_prediction(installed):
    img, mask = _scene(45, 61)
    eng = create_engine("lama")
    out = eng.inpaint(img, mask)
    pred, _ = predict(cached_generator(eng.weights), img, mask)
    expected = mask[..., None] * np.clip(pred, 0, 1) + (1 - mask[..., None]) * img
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.abs(out - expected).max() < 1e-6
    assert np.array_equal(out[~mask], img[~mask])


def test_api_and_cli_with_engine_lama(installed, tmp_path):
    from PIL import Image

    img, mask = _scene()
    u8 = (img * 255).astype(np.uint8)
    out = remove(u8, mask, engine="lama")
    assert out.dtype == np.uint8 and np.array_equal(out[~mask], u8[~mask])
    assert not np.array_equal(out[mask], u8[mask])
    Image.fromarray(u8).save(tmp_path / "p.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "m.png")
    assert main(["remove", str(tmp_path / "p.png"), "-m", str(tmp_path / "m.png"),
                 "-o", str(tmp_path / "o.png"), "--engine", "lama", "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), out)


@pytest.mark.parametrize("attention", ["result", "decoder"])
def test_cra_on_lama(installed, attention, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_LAMA_ATTENTION", attention)
    img, mask = _scene(240, 320, seed=2)
    eng = create_engine("lama")
    assert eng.attention == attention
    small = img[::4, ::4].copy()
    filled, feats = eng.inpaint_with_features(small, mask[::4, ::4])
    if attention == "decoder":
        assert feats.shape == (15, 20, 16)  # one vector per 4x4 cell of the working image
    else:
        assert feats is None
    out = run_strategy("cra", eng, img, mask, working_size=80)
    assert out.shape == img.shape
    far = np.ones_like(mask)
    far[mask.nonzero()[0].min() - 8 : mask.nonzero()[0].max() + 8,
        mask.nonzero()[1].min() - 8 : mask.nonzero()[1].max() + 8] = False
    assert np.array_equal(out[far], img[far])
    # CRA adds full-resolution detail on top of the blown-up working-size fill.
    resized = run_strategy("resize", eng, img, mask, working_size=80)
    assert np.abs(out[mask] - resized[mask]).mean() > 1e-3


def test_engine_weights_argument_reads_a_file_directly(installed, files):
    img, mask = _scene(32, 40)
    a = create_engine("lama", weights=files / "best.ckpt").inpaint(img, mask)
    b = create_engine("lama").inpaint(img, mask)
    assert np.abs(a - b).max() < 1e-6  # the same weights through two formats
