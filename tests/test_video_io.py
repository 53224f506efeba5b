"""photomend.video.reader / writer: streaming reads, atomic writes, audio copied bit for bit,
timestamps and rotation kept, one-line errors for bad input."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("av")

from video_clips import audio_packets, frame_times, make_audio_only, make_clip  # noqa: E402

from photomend.errors import InputError, OutputError  # noqa: E402
from photomend.video.reader import VideoReadError, probe, read_frames  # noqa: E402
from photomend.video.writer import VideoWriter, write_video  # noqa: E402


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "clip.mp4", rotation=90)


def test_probe(clip):
    info = probe(clip)
    assert (info.width, info.height, info.fps, info.rotation) == (64, 48, 10, 90)
    assert info.frames == 12 and info.audio == ("aac",) and info.bit_depth == 8
    assert info.duration == pytest.approx(1.2, abs=0.11)


def test_read_frames_streams_float_rgb_with_times(clip):
    frames = list(read_frames(clip))
    assert len(frames) == 12
    assert [f.index for f in frames] == list(range(12))
    assert [round(f.time, 3) for f in frames] == [round(i / 10, 3) for i in range(12)]
    assert frames[0].rgb.dtype == np.float32 and frames[0].rgb.shape == (48, 64, 3)
    assert 0.0 <= frames[0].rgb.min() and frames[0].rgb.max() <= 1.0


def test_read_frames_window(clip):
    times = [round(f.time, 3) for f in read_frames(clip, start=0.3, duration=0.4)]
    assert times == [0.3, 0.4, 0.5, 0.6]


def test_round_trip_keeps_rate_times_rotation_and_audio_bytes(clip, tmp_path):
    info = probe(clip)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, fps=info.fps, time_base=info.time_base, rotation=info.rotation,
                     audio_from=clip) as w:
        for f in read_frames(clip):
            w.write(f.rgb, f.pts)
    got = probe(out)
    assert (got.fps, got.rotation, got.frames, got.audio) == (10, 90, 12, ("aac",))
    assert frame_times(out) == pytest.approx(frame_times(clip), abs=1e-6)
    assert audio_packets(out) == audio_packets(clip)  # bit-identical


def test_variable_frame_rate_timestamps_kept(tmp_path):
    pts = [0, 1, 3, 4, 8, 9, 15, 16]
    src = make_clip(tmp_path / "vfr.mkv", frames=8, pts=pts, time_base=Fraction(1, 20),
                    audio=False)
    info = probe(src)
    out = tmp_path / "vfr_out.mp4"
    with VideoWriter(out, fps=info.fps, time_base=info.time_base) as w:
        for f in read_frames(src):
            w.write(f.rgb, f.pts)
    assert frame_times(out) == pytest.approx([p / 20 for p in pts], abs=1e-3)


def test_ten_bit_source_decoded_at_sixteen_bits(tmp_path):
    src = make_clip(tmp_path / "ten.mkv", frames=2, pix_fmt="yuv420p10le", audio=False)
    info = probe(src)
    assert info.bit_depth == 10
    rgb = next(read_frames(src)).rgb
    levels = np.unique(np.round(rgb * 65535))
    assert len(levels) > 256 or np.any(np.round(rgb * 65535) % 257)  # not 8-bit steps


def test_png_folder_output(clip, tmp_path):
    out = tmp_path / "frames"
    write_video(out, (f.rgb for f in read_frames(clip)), fps=10)
    assert sorted(p.name for p in out.glob("*.png"))[:2] == ["000000.png", "000001.png"]
    assert len((out / "timestamps.txt").read_text().split()) == 12


def test_failure_midway_leaves_no_output(clip, tmp_path):
    out = tmp_path / "out.mp4"

    def frames():
        yield np.zeros((16, 16, 3), np.float32)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_video(out, frames(), fps=5)
    assert list(tmp_path.iterdir()) == [clip]  # no output, no temporary file


def test_output_checks(clip, tmp_path):
    with pytest.raises(OutputError, match="is the input"):
        VideoWriter(clip, source=clip, overwrite=True)
    (tmp_path / "taken.mp4").write_bytes(b"x")
    with pytest.raises(OutputError, match="exists"):
        VideoWriter(tmp_path / "taken.mp4")
    with pytest.raises(OutputError, match=r"\.gif"):
        VideoWriter(tmp_path / "a.gif")
    with pytest.raises(OutputError, match="does not exist"):
        VideoWriter(tmp_path / "missing" / "a.mp4")


def test_odd_output_size_cropped_with_warning(tmp_path):
    out = tmp_path / "odd.mp4"
    with pytest.warns(UserWarning, match="even"):
        write_video(out, (np.zeros((25, 33, 3), np.float32) for _ in range(2)), fps=5)
    assert (probe(out).width, probe(out).height) == (32, 24)


@pytest.mark.parametrize("kind", ["missing", "text", "folder", "audio_only"])
def test_invalid_input(tmp_path, kind):
    path = {"missing": tmp_path / "nope.mp4", "text": tmp_path / "notes.mp4",
            "folder": tmp_path, "audio_only": tmp_path / "sound.m4a"}[kind]
    if kind == "text":
        path.write_text("not a video at all\n" * 20)
    if kind == "audio_only":
        make_audio_only(path)
    with pytest.raises(VideoReadError) as err:
        probe(path)
    message = str(err.value)
    assert "\n" not in message and str(path.name) in message
    if kind == "audio_only":
        assert "no video stream" in message
    assert isinstance(err.value, InputError)


def test_damaged_frame_in_the_middle_is_named(tmp_path):
    src = tmp_path / "ok.mp4"
    rng = np.random.default_rng(0)
    write_video(src, (rng.random((64, 64, 3)).astype(np.float32) for _ in range(30)), fps=10)
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            n = sum(1 for _ in read_frames(bad))
        except VideoReadError as exc:  # FFmpeg gave up: the error names the frame
            assert "frame" in str(exc)
            return
    assert n == 30  # concealed frames are kept (frame count unchanged) ...
    assert any("frame" in str(w.message) and "damaged" in str(w.message) for w in caught)


def test_bad_window_values(clip):
    with pytest.raises(InputError):
        list(read_frames(clip, start=-1))
    with pytest.raises(InputError):
        list(read_frames(clip, duration=0))
