"""photomend.video.upscale / vsr and ``photomend upscale CLIP``: every frame upscaled once, in
order, with rate, timestamps, rotation and audio bytes kept; the multi-frame model streams."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("av")

from video_clips import audio_packets, frame_times, make_clip, moving_frame  # noqa: E402

from photomend.cli import main  # noqa: E402
from photomend.errors import InputError, OutputError, UnsupportedScaleError  # noqa: E402
from photomend.video import vsr  # noqa: E402
from photomend.video.reader import probe, read_frames  # noqa: E402
from photomend.video.upscale import upscale_frames, upscale_video  # noqa: E402


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "clip.mp4", frames=8, size=(24, 32), rotation=-90)


@pytest.mark.parametrize("model", ["bicubic", "lanczos", "compact", "compact-vsr"])
def test_upscale_video_keeps_frames_times_rotation_audio(clip, tmp_path, model):
    out = tmp_path / f"{model}.mp4"
    seen = []
    result = upscale_video(clip, out, 2, model=model, progress=lambda s, d, t: seen.append(d))
    assert (result.frames, result.width, result.height) == (8, 64, 48)
    info = probe(out)
    assert (info.width, info.height, info.fps, info.rotation, info.frames) == (64, 48, 10, -90, 8)
    assert frame_times(out) == pytest.approx(frame_times(clip), abs=1e-6)
    assert audio_packets(out) == audio_packets(clip)
    assert seen == list(range(1, 9))


def test_upscaled_frames_match_the_source(clip, tmp_path):
    out = tmp_path / "out.mp4"
    upscale_video(clip, out, 2, model="compact-vsr")
    for low, high in zip(read_frames(clip), read_frames(out)):
        down = high.rgb.reshape(24, 2, 32, 2, 3).mean(axis=(1, 3))
        assert np.abs(down - low.rgb).mean() < 0.03


def test_window_cuts_video_and_audio(clip, tmp_path):
    out = tmp_path / "part.mp4"
    result = upscale_video(clip, out, 2, model="bicubic", start=0.2, duration=0.3)
    assert result.frames == 3
    assert frame_times(out) == pytest.approx([0.0, 0.1, 0.2], abs=1e-6)
    assert 0 < len(audio_packets(out)) < len(audio_packets(clip))
    assert set(audio_packets(out)) <= set(audio_packets(clip))  # copied, not re-encoded


def test_png_folder(clip, tmp_path):
    out = tmp_path / "frames"
    upscale_video(clip, out, 4, model="compact-vsr")
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 8


@pytest.mark.parametrize("scale", [2, 4])
def test_multi_frame_static_clip_stays_constant(scale):
    still = moving_frame(0, 20, 28).astype(np.float32) / 255
    outs = list(upscale_frames([still] * 13, scale, model="compact-vsr"))
    assert len(outs) == 13 and outs[0].shape == (20 * scale, 28 * scale, 3)
    for a, b in zip(outs, outs[1:]):
        assert np.abs(a - b).max() < 2 / 255


@pytest.mark.parametrize("scale", [2, 4])
def test_multi_frame_still_photo_does_not_flicker(scale):
    """A still textured photo: the recurrent state restarts at every streaming window, and a
    model that leans on it too hard jumps there (x4 trained 3000 steps without the temporal
    term: up to 19 levels between frames on this crop; the shipped models: under 3)."""
    import skimage.data

    still = skimage.data.astronaut()[100:340:4, 120:440:4].astype(np.float32) / 255
    outs = list(upscale_frames([still] * 13, scale, model="compact-vsr"))
    worst = max(float(np.abs(a - b).max()) for a, b in zip(outs, outs[1:]))
    assert worst < 6 / 255


@pytest.mark.parametrize("scale", [2, 4])
def test_multi_frame_clip_ends_see_both_sides(scale):
    """The ends are mirrored (frames 2, 1 before frame 0): with one output frame per window,
    every frame of a still clip, the first and the last included, gets the same states from
    both sides, so the same output."""
    still = moving_frame(3, 20, 28).astype(np.float32) / 255
    up = vsr.MultiFrameUpscaler(scale, window=1, context=2)
    outs = list(up.upscale_frames([still] * 6))
    assert len(outs) == 6
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], atol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_multi_frame_short_clips_give_one_frame_each(n):
    frames = [moving_frame(i, 12, 16).astype(np.float32) / 255 for i in range(n)]
    outs = list(vsr.MultiFrameUpscaler(2).upscale_frames(frames))
    assert [o.shape for o in outs] == [(24, 32, 3)] * n
    skipped = list(vsr.MultiFrameUpscaler(2).upscale_frames(frames, skip=1))
    assert len(skipped) == n - 1


def test_multi_frame_names_a_frame_of_another_size():
    frames = [np.zeros((12, 16, 3), np.float32)] * 4 + [np.zeros((12, 18, 3), np.float32)]
    with pytest.raises(ValueError, match="frame 5 is"):
        list(vsr.MultiFrameUpscaler(2).upscale_frames(frames))


def test_multi_frame_streams_with_bounded_lookahead():
    pulled = []

    def frames():
        for i in range(40):
            pulled.append(i)
            yield moving_frame(i, 16, 16).astype(np.float32) / 255

    stream = vsr.MultiFrameUpscaler(2).upscale_frames(frames())
    next(stream)
    assert len(pulled) <= vsr.WINDOW + vsr.CONTEXT
    assert sum(1 for _ in stream) == 39  # every frame once, whatever the windows


def test_multi_frame_is_not_bicubic():
    frames = [moving_frame(i, 24, 24).astype(np.float32) / 255 for i in range(6)]
    multi = list(upscale_frames(frames, 2, model="compact-vsr"))
    single = list(upscale_frames(frames, 2, model="bicubic"))
    assert np.abs(multi[3] - single[3]).mean() > 1e-3


def test_bad_requests(clip, tmp_path):
    with pytest.raises(UnsupportedScaleError):
        upscale_video(clip, tmp_path / "a.mp4", 3, model="compact-vsr")
    with pytest.raises(InputError, match="unknown upscaler"):
        upscale_video(clip, tmp_path / "a.mp4", 2, model="nope")
    with pytest.raises(OutputError, match="input"):
        upscale_video(clip, clip, 2, overwrite=True)
    with pytest.raises(InputError, match="no frames"):
        upscale_video(clip, tmp_path / "a.mp4", 2, model="bicubic", start=50)
    assert not (tmp_path / "a.mp4").exists()


def test_cli(clip, tmp_path, capsys):
    out = tmp_path / "cli.mp4"
    assert main(["upscale", str(clip), "-s", "2", "-m", "bicubic", "-o", str(out),
                 "--start", "0:00.1", "--duration", "0.5"]) == 0
    assert "5 frames" in capsys.readouterr().out
    assert probe(out).frames == 5
    assert main(["upscale", str(clip), "-s", "2", "-o", str(clip), "--overwrite"]) == 2
    assert main(["upscale", str(clip), "-s", "3", "-m", "compact-vsr", "-o",
                 str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.count("photomend: error:") == 2 and "Traceback" not in err
    text = tmp_path / "fake.mp4"
    text.write_text("hello")
    assert main(["upscale", str(text), "-o", str(tmp_path / "y.mp4")]) == 2
    assert "not a video" in capsys.readouterr().err


def test_segments_resume_after_a_kill_and_join_losslessly(tmp_path):
    from photomend.video.segments import upscale_video_segments

    src = make_clip(tmp_path / "long.mp4", frames=23, size=(24, 32), rotation=90)
    out = tmp_path / "out.mp4"

    class Killed(Exception):
        pass

    def kill_after_two(done, total):
        if done == 2:
            raise Killed

    with pytest.raises(Killed):
        upscale_video_segments(src, out, 2, model="compact-vsr", frames=5,
                               on_segment=kill_after_two)
    parts = tmp_path / "out.mp4.parts"
    assert not out.exists() and sorted(p.name for p in parts.glob("*.mkv")) == [
        "00000.mkv", "00001.mkv"]
    before = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.mkv")}
    seen, after = [], {}

    def record(done, total):
        seen.append(done)
        after.update({p.name: p.stat().st_mtime_ns for p in parts.glob("*.mkv")})

    upscale_video_segments(src, out, 2, model="compact-vsr", frames=5, on_segment=record)
    assert seen == [1, 2, 3, 4, 5]
    assert all(after[name] == t for name, t in before.items())  # not redone
    assert not parts.exists()
    info = probe(out)
    assert (info.frames, info.width, info.height, info.rotation) == (23, 64, 48, 90)
    assert frame_times(out) == pytest.approx(frame_times(src), abs=1e-6)
    assert audio_packets(out) == audio_packets(src)


def test_segment_windows_match_the_whole_clip():
    frames = [moving_frame(i, 16, 20).astype(np.float32) / 255 for i in range(17)]
    up = vsr.MultiFrameUpscaler(2)
    whole = list(up.upscale_frames(frames))
    part = list(up.upscale_frames(frames[5 - vsr.CONTEXT:10 + vsr.CONTEXT], skip=vsr.CONTEXT))
    for a, b in zip(part[:5], whole[5:10]):
        np.testing.assert_array_equal(a, b)


def test_default_model_is_multi_frame_where_it_has_the_scale(clip, tmp_path, capsys):
    assert main(["upscale", str(clip), "-s", "2", "-o", str(tmp_path / "d2.mp4")]) == 0
    assert "x2 compact-vsr" in capsys.readouterr().out
    assert main(["upscale", str(clip), "-s", "3", "-o", str(tmp_path / "d3.mp4")]) == 0
    assert "x3 compact," in capsys.readouterr().out
