"""GFPGAN (photomend.faces.gfpgan): a random checkpoint in the release files' layout
(``{"params_ema": state_dict}`` of GFPGANv1Clean; 64 px instead of 512 to stay fast) imported
through the zoo (layout check + ONNX export), the paste-back and strength, and
``upscale/restore --faces gfpgan`` with its bad input (missing model, strength out of range,
wrong layout). Parity with the official code: tools/gfpgan_parity.py."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from photomend.cli import main  # noqa: E402
from photomend.faces import gfpgan  # noqa: E402
from photomend.faces.gfpgan_arch import GFPGANv1Clean  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
skimage_data = pytest.importorskip("skimage.data")
SIDE = 64


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(gfpgan, "SIZE", SIDE)
    return tmp_path / "models"


def _checkpoint(path, *, break_key: str | None = None):
    torch.manual_seed(0)
    state = GFPGANv1Clean(SIDE).state_dict()
    if break_key:
        state[break_key] = torch.zeros(3, 3)
    torch.save({"params_ema": state, "params": {}}, path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The ONNX file import writes, made once for the module."""
    tmp = tmp_path_factory.mktemp("gfpgan")
    dst = tmp / "gfpgan.onnx"
    gfpgan.convert_checkpoint(_checkpoint(tmp / "GFPGANv1.4.pth"), dst, size=SIDE)
    return dst


@pytest.fixture
def installed(models_dir, exported):
    import shutil

    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(exported, models_dir / "gfpgan-v1.4.onnx")
    return models_dir


def test_import_through_the_zoo(models_dir, tmp_path, capsys):
    from photomend import zoo

    src = _checkpoint(tmp_path / "GFPGANv1.4.pth")
    assert main(["models", "import", str(src)]) == 0  # recognised by its file name
    sess = gfpgan.session(zoo.model_path("gfpgan-v1.4"))
    assert sess.get_inputs()[0].shape == [1, 3, SIDE, SIDE]


@pytest.fixture(scope="module")
def astro_png(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("photos") / "astro.png"
    Image.fromarray(skimage_data.astronaut()[::2, ::2]).save(path)
    return path


def test_restore_faces_changes_only_the_faces(installed):
    astro = skimage_data.astronaut().astype(np.float32) / 255
    out, faces = gfpgan.restore_faces(astro, strength=1.0)
    assert len(faces) == 1
    changed = np.any(out != astro, axis=2)
    assert 0 < changed.mean() < 0.2
    x0, y0, x1, y1 = faces[0].box
    ys, xs = np.nonzero(changed)
    pad = 1.5 * (x1 - x0)
    assert xs.min() > x0 - pad and xs.max() < x1 + pad and ys.max() < y1 + pad
    half, _ = gfpgan.restore_faces(astro, strength=0.5, faces=faces)
    d_full, d_half = np.abs(out - astro).sum(), np.abs(half - astro).sum()
    assert 0.3 * d_full < d_half < 0.7 * d_full
    same, _ = gfpgan.restore_faces(astro, strength=0.0, faces=faces)
    assert np.array_equal(same, astro)


def test_no_face_unchanged(installed):
    flat = np.full((48, 48, 3), 0.4, np.float32)
    out, faces = gfpgan.restore_faces(flat)
    assert not faces and np.array_equal(out, flat)


def test_wrong_layout_refused(models_dir, tmp_path, capsys):
    src = _checkpoint(tmp_path / "GFPGANv1.4.pth", break_key="final_linear.weight")
    assert main(["models", "import", str(src)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "final_linear.weight" in err[0] and "(3, 3)" in err[0]


def test_cli_upscale_and_restore_with_gfpgan(installed, astro_png, tmp_path, capsys):
    from PIL import Image

    plain, faced = tmp_path / "plain.png", tmp_path / "faced.png"
    assert main(["upscale", str(astro_png), "-o", str(plain), "-s", "2"]) == 0
    assert main(["upscale", str(astro_png), "-o", str(faced), "-s", "2", "--faces", "gfpgan",
                 "--face-strength", "0.7"]) == 0
    assert "restored 1 face(s) with GFPGAN" in capsys.readouterr().out
    a = np.asarray(Image.open(plain)).astype(int)
    b = np.asarray(Image.open(faced)).astype(int)
    assert 0 < np.any(a != b, axis=2).mean() < 0.2
    restored = tmp_path / "restored.png"
    assert main(["restore", str(astro_png), "-o", str(restored), "--faces", "gfpgan"]) == 0
    assert restored.exists()


@pytest.mark.parametrize("argv, needle", [
    (["--faces", "gfpgan"], "models fetch gfpgan-v1.4"),
    (["--faces", "gfpgan", "--face-strength", "1.5"], "--face-strength"),
])
def test_cli_bad_input(models_dir, astro_png, tmp_path, capsys, argv, needle):
    assert main(["upscale", str(astro_png), "-o", str(tmp_path / "x.png"), "-s", "2", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert main(["restore", str(astro_png), "-o", str(tmp_path / "y.png"), *argv]) == 2
