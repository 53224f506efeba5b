"""photomend.video.basicvsr(_arch): the published checkpoint layout imported (every key and shape
checked, the first wrong one named), the ONNX graphs equal to the torch network, and
``photomend upscale CLIP -s 4 --model basicvsr`` on a random-weight checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("av")

from video_clips import audio_packets, make_clip, moving_frame  # noqa: E402

from photomend import zoo  # noqa: E402
from photomend.cli import main  # noqa: E402
from photomend.errors import (  # noqa: E402
    ModelArchitectureError,
    ModelError,
    ModelMissingError,
    UnsupportedScaleError,
)
from photomend.video import basicvsr  # noqa: E402
from photomend.video import basicvsr_arch as arch  # noqa: E402
from photomend.video.reader import probe, read_frames  # noqa: E402
from photomend.video.upscale import check_video_model, upscale_frames  # noqa: E402


def _random_net(channels=arch.CHANNELS, blocks=arch.BLOCKS, seed=0):
    torch.manual_seed(seed)
    net = arch.BasicVSR(channels, blocks).eval()
    with torch.no_grad():  # off PyTorch's default init, so that every layer matters
        for t in net.parameters():
            t.add_(torch.randn(t.shape) * 0.02)
    return net


def _published_file(path, net, **extra):
    """``net`` saved as mmagic publishes BasicVSR: meta + state_dict with generator.* keys."""
    state = {"generator." + k: v for k, v in net.state_dict().items()}
    state.update(extra)
    torch.save({"meta": {"mmedit_version": "0.x"}, "state_dict": state}, path)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small network (8 channels, 2 blocks) and its ONNX zip."""
    net = _random_net(8, 2)
    dest = tmp_path_factory.mktemp("bv") / "small.zip"
    basicvsr.export_onnx(net, dest)
    return net, dest


@pytest.mark.parametrize("size", [(37, 50), (32, 64), (140, 20)])  # 140: three stripes
def test_onnx_graphs_equal_the_torch_network(small, size):
    net, path = small
    lrs = torch.rand(1, 6, 3, *size)
    with torch.no_grad():
        ref = net(lrs)[0].permute(0, 2, 3, 1).numpy()
    up = basicvsr.BasicVSRUpscaler(path)
    up.clip = False
    out = np.stack(list(up.upscale_frames(f.permute(1, 2, 0).numpy() for f in lrs[0])))
    assert out.shape == (6, size[0] * 4, size[1] * 4, 3)
    assert np.abs(out - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())


def test_windows_of_a_long_clip_match_a_segment_read_with_context(small):
    _, path = small
    frames = [moving_frame(i, 20, 24).astype(np.float32) / 255 for i in range(13)]
    up = basicvsr.BasicVSRUpscaler(path, window=4, context=2)
    whole = list(up.upscale_frames(frames))
    part = list(up.upscale_frames(frames[4 - 2:8 + 2], skip=2))[:4]  # then the context
    assert len(whole) == 13
    for a, b in zip(part, whole[4:8], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_published_layout_is_imported(tmp_path):
    net = _random_net()
    src = _published_file(tmp_path / "basicvsr_reds4_20120409-0e599677.pth", net,
                          step_counter=torch.zeros(1))
    loaded = basicvsr.load_checkpoint(src)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_checkpoint_without_spynet_buffers_is_imported(tmp_path):
    net = _random_net(8, 1)
    state = {"generator." + k: v for k, v in net.state_dict().items()
             if not k.startswith("spynet.m") and not k.startswith("spynet.s")}
    torch.save({"state_dict": state}, tmp_path / "b.pth")
    loaded = basicvsr.load_checkpoint(tmp_path / "b.pth", channels=8, blocks=1)
    assert torch.equal(loaded.spynet.std, torch.tensor(arch.STD).view(1, 3, 1, 1))


@pytest.mark.parametrize("change, message", [
    ("shape", r"key 'generator.fusion.weight' has shape \(8, 16, 3, 3\), expected \(8, 16, 1, 1\)"),
    ("missing", r"missing key 'generator.conv_last.bias' \(expected shape \(3,\)\)"),
    ("unexpected", r"unexpected key 'generator.extra.weight'"),
    ("prefix", r"missing key 'generator.spynet.basic_module.0.basic_module.0.conv.weight'"),
])
def test_wrong_layout_names_the_first_mismatching_key(tmp_path, change, message):
    net = _random_net(8, 1)
    state = {"generator." + k: v for k, v in net.state_dict().items()}
    if change == "shape":
        state["generator.fusion.weight"] = torch.zeros(8, 16, 3, 3)
    elif change == "missing":
        del state["generator.conv_last.bias"]
    elif change == "unexpected":
        state["generator.extra.weight"] = torch.zeros(1)
    else:  # a bare BasicVSRNet state dict (no generator. prefix)
        state = net.state_dict()
    torch.save({"state_dict": state}, tmp_path / "w.pth")
    with pytest.raises(ModelArchitectureError, match=message):
        basicvsr.load_checkpoint(tmp_path / "w.pth", channels=8, blocks=1)


def test_not_a_checkpoint_is_one_clear_error(tmp_path):
    bad = tmp_path / "basicvsr.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read .*basicvsr.pth as a torch checkpoint"):
        basicvsr.load_checkpoint(bad)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def test_only_x4_and_a_missing_model_names_the_command(cache):
    with pytest.raises(UnsupportedScaleError, match="x4 only, not x2"):
        check_video_model("basicvsr", 2)
    with pytest.raises(ModelMissingError, match="photomend models fetch basicvsr-reds4"):
        check_video_model("basicvsr", 4)


def test_zoo_entries_carry_url_licence_and_hash_prefix():
    spec = zoo.get_model("basicvsr-reds4")
    assert spec.source.startswith("https://download.openmmlab.com/mmediting/restorers/basicvsr/")
    assert (spec.license, spec.scale, spec.sha256_prefix) == ("Apache-2.0", 4, "0e599677")
    assert {s.name for s in zoo.list_models(task="video-upscale")} == set(basicvsr.PUBLISHED)


def test_import_checks_the_published_hash_prefix(cache, tmp_path):
    src = _published_file(tmp_path / "basicvsr_reds4_20120409-0e599677.pth", _random_net(8, 1))
    with pytest.raises(ModelError, match="not the published basicvsr-reds4 file"):
        zoo.install_file("basicvsr-reds4", src)
    assert not cache.exists() or not any(cache.iterdir())


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A random checkpoint of the published layout imported (--trust) into a fresh cache."""
    tmp = tmp_path_factory.mktemp("installed")
    src = _published_file(tmp / "mine.pth", _random_net())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PHOTOMEND_MODELS", str(tmp / "models"))
        assert main(["models", "import", str(src), "--name", "basicvsr-reds4", "--trust",
                     "-q"]) == 0
        yield src, tmp / "models"


def test_upscale_cli_with_an_imported_random_checkpoint(installed, tmp_path, capsys):
    src, cache = installed
    record = zoo.read_record(cache / "basicvsr-reds4.zip")
    assert record["verified"] is False and record["source_sha256"] == zoo.sha256_of(src)
    clip = make_clip(tmp_path / "clip.mp4", frames=4, size=(16, 24))
    out = tmp_path / "out.mp4"
    assert main(["upscale", str(clip), "-s", "4", "--model", "basicvsr", "-o", str(out)]) == 0
    assert "x4 basicvsr" in capsys.readouterr().out
    info = probe(out)
    assert (info.frames, info.width, info.height) == (4, 96, 64)
    assert audio_packets(out) == audio_packets(clip)
    assert main(["upscale", str(clip), "-s", "2", "--model", "basicvsr",
                 "-o", str(tmp_path / "x2.mp4")]) == 2
    assert "x4 only" in capsys.readouterr().err
    assert not (tmp_path / "x2.mp4").exists()
    frames = [moving_frame(i, 16, 24).astype(np.float32) / 255 for i in range(3)]
    assert [f.shape for f in upscale_frames(frames, 4, "basicvsr-reds4")] == [(64, 96, 3)] * 3


def test_segments_give_the_frames_of_the_whole_clip(installed, tmp_path):
    """Segments of a multiple of the window, read with context: the same frames (lossless
    H.264, crf 0, so the decoded frames are comparable exactly)."""
    from photomend.video.segments import upscale_video_segments
    from photomend.video.upscale import upscale_video

    clip = make_clip(tmp_path / "clip.mp4", frames=23, size=(16, 24))
    whole, parts = tmp_path / "whole.mp4", tmp_path / "parts.mp4"
    upscale_video(clip, whole, 4, model="basicvsr", crf=0)
    upscale_video_segments(clip, parts, 4, model="basicvsr", frames=basicvsr.WINDOW, crf=0)
    a = np.stack([f.rgb for f in read_frames(whole)])
    b = np.stack([f.rgb for f in read_frames(parts)])
    assert a.shape == b.shape == (23, 64, 96, 3)
    np.testing.assert_array_equal(a, b)
