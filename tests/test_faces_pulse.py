"""PULSE (photomend.faces.pulse_search / stylegan / enhance): its pieces, the published checkpoint
layout through the zoo (random weights written with the exact keys and shapes), the known
answer of issue 26 (a latent is recovered: the found face downscales to the LR within eps),
the paste-back, and ``photomend upscale --faces pulse`` (invented-face note, missing weights).
Parity with the official code: tools/pulse_parity.py."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from photomend import zoo  # noqa: E402
from photomend.cli import main  # noqa: E402
from photomend.errors import ModelError, ModelMissingError  # noqa: E402
from photomend.faces import pulse_search as P  # noqa: E402
from photomend.faces.stylegan import Mapping, Synthesis, noise_shapes  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
skimage_data = pytest.importorskip("skimage.data")


def tiny_weights(res: int = 32) -> dict:
    """A small random generator whose images stay inside [0, 1] (so that clamping the
    result does not hide a match)."""
    torch.manual_seed(0)
    syn = Synthesis(res, fmap_max=16).eval().requires_grad_(False)
    with torch.no_grad():
        syn.torgb.weight.mul_(0.25)
    return {"synthesis": syn, "fit": {"mean": torch.zeros(512), "std": torch.ones(512)}}


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def test_downscale_keeps_a_flat_image_and_matches_the_kernel():
    x = torch.full((1, 3, 64, 64), 0.3)
    assert torch.allclose(P.downscale(x, 4), torch.full((1, 3, 16, 16), 0.3), atol=1e-6)
    k = P.bicubic_kernel(2)
    assert k.shape == (8,) and abs(float(k.sum()) - 1) < 1e-6 and torch.allclose(k, k.flip(0))


def test_geocross_is_zero_for_equal_vectors_and_grows_with_angle():
    v = torch.randn(1, 1, 512).expand(1, 18, 512).contiguous()
    assert float(P.geocross(v)) < 1e-3
    w = torch.randn(1, 18, 512)
    assert float(P.geocross(w)) > 10 * float(P.geocross(v)) + 1


def test_spherical_optimizer_keeps_each_vectors_norm():
    x = torch.randn(1, 18, 512, requires_grad=True)
    before = x.detach().norm(dim=2)
    opt = P.SphericalOptimizer(torch.optim.Adam, [x], lr=0.4)
    (x ** 3).sum().backward()
    opt.step()
    assert torch.allclose(x.detach().norm(dim=2), before, rtol=1e-5)


def test_schedules():
    f = P.schedule("linear1cycledrop", 100)
    assert f(0) == pytest.approx(0.1) and f(45) == pytest.approx(1.0)
    assert f(99) == pytest.approx(0.1 + 0.9 * (0.001 - 0.1), rel=1e-6)
    assert P.schedule("fixed", 10)(3) == 1.0
    with pytest.raises(ModelError.__mro__[1]):  # InputError
        P.schedule("cosine", 10)


def test_noise_draws_follow_pulse():
    st = P.init_state(1, seed=3)
    assert [tuple(n.shape) for n in st.noise] == noise_shapes(1)
    assert len(st.trainable) == 5 and float(st.noise[17].abs().sum()) == 0
    again = P.init_state(1, seed=3)
    assert torch.equal(st.latent, again.latent)


def test_pulse_recovers_a_latent_within_eps():
    """Issue 26's known answer: an LR made by downscaling G(w*) of a random generator; the
    face PULSE finds (another seed) downscales to it within eps."""
    weights = tiny_weights(32)
    st = P.init_state(1, seed=123)
    with torch.no_grad():
        _, image = P.generate(weights["synthesis"], weights["fit"], st.latent, st.noise)
        lr = P.downscale(image, 4)[0].permute(1, 2, 0).numpy()
    result = P.pulse(lr, steps=100, eps=2e-3, seed=8, weights=weights)
    assert result.matched and result.l2 <= 2e-3
    assert result.image.shape == (32, 32, 3) and result.downscaled.shape == (8, 8, 3)
    assert "not the person's face" in result.note
    few = P.pulse(lr, steps=2, eps=2e-3, seed=8, weights=weights)
    assert not few.matched  # two steps are not enough: the flag can fail


def test_pulse_bad_input():
    weights = tiny_weights(32)
    from photomend.errors import InputError

    with pytest.raises(InputError, match="square"):
        P.pulse(np.zeros((8, 6, 3), np.float32), weights=weights)
    with pytest.raises(InputError, match="divide"):
        P.pulse(np.zeros((12, 12, 3), np.float32), weights=weights)
    with pytest.raises(InputError, match="steps"):
        P.pulse(np.zeros((8, 8, 3), np.float32), steps=0, weights=weights)


def test_layout_check_names_the_first_mismatch(tmp_path):
    state = Synthesis(16).state_dict()
    bad = dict(state)
    bad["blocks.8x8.conv1.weight"] = torch.zeros(512, 512, 1, 1)
    torch.save(bad, tmp_path / "s.pt")
    with pytest.raises(ModelError, match=r"blocks\.8x8\.conv1\.weight.*\(512, 512, 1, 1\)"):
        P.load_synthesis(tmp_path / "s.pt", 16)
    del bad["blocks.8x8.conv1.weight"]
    torch.save(bad, tmp_path / "s.pt")
    with pytest.raises(ModelError, match="missing key 'blocks.8x8.conv1.weight'"):
        P.load_synthesis(tmp_path / "s.pt", 16)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read"):
        P.load_synthesis(tmp_path / "junk.pt", 16)


def test_published_layout_imports_through_the_zoo(tmp_path, models_dir, capsys):
    """synthesis.pt / mapping.pt / gaussian_fit.pt in PULSE's exact layout (state dicts with
    the official keys and shapes; the fit as saved by PULSE) install and load."""
    torch.manual_seed(0)
    torch.save(Synthesis().state_dict(), tmp_path / "synthesis.pt")
    torch.save(Mapping().state_dict(), tmp_path / "mapping.pt")
    fit = {"mean": torch.randn(512), "std": torch.rand(512)}
    torch.save(fit, tmp_path / "gaussian_fit.pt")
    with pytest.raises(ModelMissingError, match="models import synthesis.pt"):
        P.installed_weights()
    assert main(["models", "import", str(tmp_path / "synthesis.pt")]) == 0
    assert main(["models", "import", str(tmp_path / "mapping.pt")]) == 0
    with pytest.raises(ModelMissingError, match="models fetch pulse-gaussian-fit"):
        P.installed_weights()
    # the fit from the mapping (PULSE's fallback when gaussian_fit.pt is missing)
    got = P.gaussian_fit(P.load_mapping(zoo.model_path("pulse-stylegan-ffhq-mapping")),
                         samples=2000)
    assert got["mean"].shape == (512,) and float(got["std"].min()) > 0
    assert main(["models", "import", str(tmp_path / "gaussian_fit.pt"), "--name",
                 "pulse-gaussian-fit", "--trust"]) == 0
    weights = P.installed_weights()
    assert weights["synthesis"].resolution == 1024
    assert torch.equal(weights["fit"]["mean"], fit["mean"])


def test_wrong_layout_refused_by_import(tmp_path, models_dir, capsys):
    state = Mapping().state_dict()
    state["dense3.weight"] = torch.zeros(256, 512)
    torch.save(state, tmp_path / "mapping.pt")
    assert main(["models", "import", str(tmp_path / "mapping.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dense3.weight" in err[0] and "(256, 512)" in err[0]


def test_paste_back_changes_only_the_face(monkeypatch):
    from photomend.faces.enhance import pulse_faces

    astro = skimage_data.astronaut().astype(np.float32) / 255
    up = np.repeat(np.repeat(astro, 2, axis=0), 2, axis=1)
    out, reports, faces = pulse_faces(astro, up, steps=3, seed=1, weights=tiny_weights(32))
    assert len(reports) == 1 and reports[0].lr_side == 32
    changed = np.any(out != up, axis=2)
    x0, y0, x1, y1 = (v * 2 for v in faces[0].box)
    ys, xs = np.nonzero(changed)
    assert changed.any() and changed.mean() < 0.2
    pad = 2 * (x1 - x0)  # the aligned crop is wider than the detector's box
    assert xs.min() > x0 - pad and xs.max() < x1 + pad and ys.min() > y0 - pad


def test_no_face_leaves_the_photo_unchanged():
    from photomend.faces.enhance import pulse_faces

    flat = np.full((64, 64, 3), 0.5, np.float32)
    out, reports, faces = pulse_faces(flat, flat, weights={"synthesis": None})
    assert reports == [] and np.array_equal(out, flat)


@pytest.fixture(scope="module")
def astro_png(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("photos") / "astro.png"
    Image.fromarray(skimage_data.astronaut()[::2, ::2]).save(path)
    return path


def test_cli_upscale_faces_pulse(astro_png, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(P, "installed_weights", lambda: tiny_weights(32))
    plain, faced = tmp_path / "plain.png", tmp_path / "faced.png"
    assert main(["upscale", str(astro_png), "-o", str(plain), "-s", "2"]) == 0
    assert main(["upscale", str(astro_png), "-o", str(faced), "-s", "2", "--faces", "pulse",
                 "--face-steps", "2", "--face-seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "face 0: PULSE from" in out and "not the person's face" in out
    from PIL import Image

    a = np.asarray(Image.open(plain)).astype(int)
    b = np.asarray(Image.open(faced)).astype(int)
    changed = np.any(a != b, axis=2)
    assert 0 < changed.mean() < 0.2


def test_cli_upscale_faces_missing_weights(astro_png, tmp_path, models_dir, capsys):
    assert main(["upscale", str(astro_png), "-o", str(tmp_path / "x.png"), "-s", "2",
                 "--faces", "pulse"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "photomend models import synthesis.pt" in err[0]
    assert not (tmp_path / "x.png").exists()
