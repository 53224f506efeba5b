"""``restore --detector bopbtl`` (photomend.restoration.detect_bopbtl): a random checkpoint in
the release's layout (``checkpoints/detection/FT_Epoch_latest.pt`` inside
``global_checkpoints.zip``, ``{"model_state": state_dict}``) imported through the zoo (layout
check + ONNX export, which must compute what the torch network computes), the published
preprocessing, and the bad input (no model, another checkpoint, a zip without the detector).
Parity with the official code: tools/bopbtl_parity.py (benchmarks/results_bopbtl_parity.md)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from photomend.cli import main  # noqa: E402
from photomend.restoration import detect_bopbtl  # noqa: E402
from photomend.restoration.bopbtl_arch import ScratchUNet  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_net(seed: int = 0) -> ScratchUNet:
    torch.manual_seed(seed)
    net = ScratchUNet()
    with torch.no_grad():
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.normal_(0, 0.1)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)
    return net.eval()


def _release_zip(path, state, member="Global/" + detect_bopbtl.MEMBER):
    pt = path.with_suffix(".pt")
    torch.save({"model_state": state, "epoch": 3}, pt)
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(pt, member)
    pt.unlink()
    return path


def _scan() -> np.ndarray:
    rng = np.random.default_rng(2)
    return (np.full((300, 420, 3), 120) + rng.integers(0, 20, (300, 420, 3))).astype(np.uint8)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The release zip of a random network imported with ``photomend models import``; its last
    layer set so that it flags about 3 % of :func:`_scan` (a random network's logits hardly
    vary: it would flag all or nothing)."""
    tmp = tmp_path_factory.mktemp("bopbtl")
    net = _random_net()
    x = torch.from_numpy(detect_bopbtl.network_input(_scan().astype(np.float32) / 255))
    with torch.no_grad():
        net.last[1].weight.mul_(1000.0)
        net.last[1].bias.zero_()
        logits = net(x).flatten()
        edge = float(np.log(detect_bopbtl.THRESHOLD / (1 - detect_bopbtl.THRESHOLD)))
        net.last[1].bias.fill_(edge - float(torch.quantile(logits, 0.97)))
    src = _release_zip(tmp / "global_checkpoints.zip", net.state_dict())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PHOTOMEND_MODELS", str(tmp / "models"))
        assert main(["models", "import", str(src), "--quiet"]) == 0
        yield net, tmp / "models" / "bopbtl-scratch.onnx"


def test_import_writes_an_onnx_file_that_computes_the_network(installed):
    net, onnx_path = installed
    from photomend.nn.onnx import session

    x = np.random.default_rng(1).uniform(-1, 1, (1, 1, 128, 192)).astype(np.float32)
    sess = session(onnx_path)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape == (1, 1, 128, 192)
    assert np.abs(got - want).max() < 1e-3 * max(1.0, np.abs(want).max())


def test_restore_with_the_detector(installed, tmp_path, monkeypatch, capsys):
    _, onnx_path = installed
    monkeypatch.setenv("PHOTOMEND_MODELS", str(onnx_path.parent))
    scan = _scan()
    Image.fromarray(scan).save(tmp_path / "scan.png")
    out = tmp_path / "out.png"
    assert main(["restore", str(tmp_path / "scan.png"), "-o", str(out), "--detector", "bopbtl",
                 "--mask-out", str(tmp_path / "mask.png")]) == 0
    mask = np.asarray(Image.open(tmp_path / "mask.png").convert("L")) > 127
    assert np.asarray(Image.open(out)).shape == scan.shape
    # what was filled is what the network found (grown by restore's 2-px dilation)
    from photomend.restoration.detect import detect_defects
    from photomend.restoration.pipeline import dilate_mask

    found = detect_defects(scan.astype(np.float32) / 255, detector="bopbtl")
    p = detect_bopbtl.full_size_probability(scan.astype(np.float32) / 255)
    assert found.shape == (300, 420) and np.array_equal(found, p > detect_bopbtl.THRESHOLD)
    assert 0.005 < found.mean() < 0.1
    assert np.array_equal(mask, dilate_mask(found))


def test_network_input_is_the_published_preprocessing():
    """Rounded to multiples of 16 (bicubic), 8-bit luma, [-1, 1], bilinear to 256 px on the
    short side (torch's F.interpolate, align_corners=False)."""
    rng = np.random.default_rng(3)
    rgb = rng.random((413, 250, 3), dtype=np.float32)
    x = detect_bopbtl.network_input(rgb)
    im = Image.fromarray(np.rint(rgb * 255).astype(np.uint8)).resize((256, 416), Image.BICUBIC)
    grey = torch.from_numpy(np.asarray(im.convert("L"), np.float32) / 255)[None, None]
    want = F.interpolate((grey - 0.5) / 0.5, [416, 256], mode="bilinear").numpy()
    assert x.shape == want.shape == (1, 1, 416, 256)
    assert np.abs(x - want).max() < 1e-4
    assert detect_bopbtl.network_size(3000, 4000) == (256, 336)
    assert detect_bopbtl.network_size(256, 256) == (256, 256)
    assert all(n % 16 == 0 for n in detect_bopbtl.network_size(999, 5000))


def test_restore_without_the_model_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "empty"))
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(tmp_path / "scan.png")
    assert main(["restore", str(tmp_path / "scan.png"), "-o", str(tmp_path / "o.png"),
                 "--detector", "bopbtl"]) == 2
    err = capsys.readouterr().err
    assert "photomend models fetch bopbtl-scratch" in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("problem", ["another network", "no detector in the zip"])
def test_import_refuses_what_is_not_the_detector(tmp_path, monkeypatch, capsys, problem):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))
    if problem == "another network":
        state = {"first.1.weight": torch.zeros(64, 1, 7, 7)}
        src = _release_zip(tmp_path / "global_checkpoints.zip", state)
        expect = "missing key"
    else:
        src = _release_zip(tmp_path / "global_checkpoints.zip", {},
                           member="checkpoints/restoration/latest_net_G.pth")
        expect = "holds no checkpoints/detection/FT_Epoch_latest.pt"
    assert main(["models", "import", str(src), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err
    assert not (tmp_path / "models" / "bopbtl-scratch.onnx").exists()
