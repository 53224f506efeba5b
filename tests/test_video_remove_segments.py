"""Video removal in resumable segments: ``remove_video_segments``, ``photomend remove CLIP
--segments N`` and the batch step ``remove_video`` (segments on the workers, joined by the
driver, a killed job resumed at the first unfinished segment)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("av")

from test_video_remove import find_red_walker, object_clip, walker_clip, write_clip  # noqa: E402
from video_clips import DiesAfterOne, audio_packets, frame_times, kill_batch_mid_job, make_clip  # noqa: E402

from photomend.batch import JobSpec, Step, read_journal, run_job  # noqa: E402
from photomend.batch.local import InlineExecutor  # noqa: E402
from photomend.errors import InputError, MaskError  # noqa: E402
from photomend.metrics import masked_psnr  # noqa: E402
from photomend.video.reader import probe, read_frames  # noqa: E402
from photomend.video.writer import write_video  # noqa: E402
from photomend.video_removal.segment import remove_range, remove_video_segments  # noqa: E402


def _frames(path):
    return np.stack([f.rgb for f in read_frames(path)])


@pytest.fixture
def walker(tmp_path):
    return walker_clip(tmp_path, 30)


def test_segments_match_the_whole_clip_run(walker, tmp_path):
    from photomend import remove_video

    clip, folder, masks, truths = walker
    whole = remove_video(clip, tmp_path / "whole.mp4", folder, radius=4, crf=0)
    seg = remove_video_segments(clip, tmp_path / "seg.mp4", folder, frames=7, radius=4, crf=0)
    assert not (tmp_path / "seg.mp4.parts").exists()  # the work folder removed after the join
    a, b = probe(whole.output), probe(seg.output)
    assert (b.frames, b.fps, b.audio) == (a.frames, a.fps, a.audio) == (30, 10, ("aac",))
    assert frame_times(seg.output) == pytest.approx(frame_times(clip), abs=1e-6)
    assert audio_packets(seg.output) == audio_packets(clip) == audio_packets(whole.output)
    # every hole pixel comes from the same whole-clip background: the same frames (lossless
    # H.264 on both sides; the 1/255 is the rounding of the YUV conversion)
    fa, fb = _frames(whole.output), _frames(seg.output)
    assert np.abs(fa - fb).max() <= 1 / 255 + 1e-6
    # the known answer: the empty scene through the same 4:2:0 lossless encoding (4:2:0 alone
    # costs the texture's chroma ~26 dB against the float truth, the fill ~0)
    write_video(tmp_path / "truth.mp4", iter(truths), fps=10, crf=0)
    truth = _frames(tmp_path / "truth.mp4")
    for k, m in enumerate(masks):
        assert masked_psnr(fb[k], truth[k], m, dilate=0) > 40, k
    # the counts are those of the segments' own frames (no context frame counted twice)
    assert (seg.stats.frames, seg.stats.filled) == (30, 30)
    assert seg.stats.copied == whole.stats.copied and seg.stats.invented == 0


def test_a_logo_on_a_panning_clip_in_segments(tmp_path):
    """Moving camera (no clip background). Behind the logo, the pan (1 px a frame) shows only
    ``radius`` px at each side within reach; the rest is invented once on a key frame and
    carried. A segment cannot carry what the frames before its context invented: it invents
    on its first context frame, so after the first segment its hole differs from the
    whole-clip run's (not outside, and not for the worse)."""
    from photomend import remove_video

    clip = make_clip(tmp_path / "pan.mp4", frames=20, size=(48, 64))
    logo = np.zeros((48, 64), np.uint8)
    logo[4:12, 6:20] = 255
    cv2.imwrite(str(tmp_path / "logo.png"), logo)
    whole = remove_video(clip, tmp_path / "whole.mp4", tmp_path / "logo.png", radius=3, crf=0)
    seg = remove_video_segments(clip, tmp_path / "seg.mp4", tmp_path / "logo.png", frames=6,
                                radius=3, crf=0)
    assert probe(seg.output).frames == 20 and seg.stats.moving_frames == 20
    assert seg.stats.copied == whole.stats.copied  # what the window saw: the same pixels
    hole = logo > 0
    fa, fb, src = _frames(whole.output), _frames(seg.output), _frames(clip)
    near = cv2.dilate(logo, np.ones((5, 5), np.uint8)) > 0  # 4:2:0 chroma shares 2x2 blocks
    assert np.abs(fa - fb)[:, ~near].max() <= 1 / 255 + 1e-6
    assert np.abs(fa - fb)[:6].max() <= 1 / 255 + 1e-6  # the first segment: the same
    # the truth behind the logo is the clip itself (nothing was drawn there)
    pa = np.mean([masked_psnr(fa[k], src[k], hole, dilate=0) for k in range(20)])
    pb = np.mean([masked_psnr(fb[k], src[k], hole, dilate=0) for k in range(20)])
    assert pb >= pa - 1.0, (pa, pb)


def test_options_and_masks_refused_clearly(walker, tmp_path):
    clip, folder, _, _ = walker
    with pytest.raises(InputError, match="keep needs auto"):
        remove_range(mask=folder, keep=[(1, 2)])
    with pytest.raises(InputError, match="not both"):
        remove_range(mask=folder, mask_dir=folder)
    with pytest.raises(InputError, match="nothing to remove"):
        remove_range()
    with pytest.raises(InputError, match="unknown class .unicorn."):
        remove_range(auto="unicorn")
    with pytest.raises(MaskError, match="no such file"):
        remove_range(mask=tmp_path / "nope.png")
    (folder / "000017.png").unlink()
    with pytest.raises(MaskError, match="frame 18 "):
        remove_video_segments(clip, tmp_path / "a.mp4", folder, frames=7)
    assert not (tmp_path / "a.mp4").exists()


def test_auto_tracked_once_over_the_whole_clip(walker, tmp_path, monkeypatch):
    """``auto`` in segments: the instances are tracked over the whole clip when it is planned,
    so the segments remove (and keep) what the whole-clip run does."""
    from photomend import remove_video
    from photomend.objects import api as objects_api

    clip, _, masks, _ = walker
    calls = []

    def find_red(rgb, classes, min_score=0.25):  # counted
        calls.append(1)
        return find_red_walker(rgb, classes, min_score)

    monkeypatch.setattr(objects_api, "find_objects", find_red)
    whole = remove_video(clip, tmp_path / "whole.mp4", auto="person", grow=2, radius=4, crf=0)
    calls.clear()
    stages = []
    seg = remove_video_segments(clip, tmp_path / "seg.mp4", auto="person", grow=2, frames=7,
                                radius=4, crf=0, progress=lambda s, n, t: stages.append(s))
    assert len(calls) == 30  # one detection per frame, not per segment and context
    assert stages[0] == "detect" and "scan" in stages and stages[-1] == "frames"
    assert (seg.tracks, seg.kept, seg.stats.filled) == (whole.tracks, 0, 30) == (1, 0, 30)
    assert np.abs(_frames(whole.output) - _frames(seg.output)).max() <= 1 / 255 + 1e-6
    y, x = np.argwhere(masks[5])[0]
    kept = remove_video_segments(clip, tmp_path / "kept.mp4", auto="person",
                                 keep=[(x + 1, y + 1, 0.5)], frames=7, radius=4, crf=0)
    assert kept.kept == 1 and kept.stats.filled == 0  # nothing removed: frames passed through
    ref = remove_video(clip, tmp_path / "kept_whole.mp4", auto="person",
                       keep=[(x + 1, y + 1, 0.5)], radius=4, crf=0)
    assert np.abs(_frames(kept.output) - _frames(ref.output)).max() <= 1 / 255 + 1e-6


def test_cli_segments(walker, tmp_path, capsys):
    from photomend.cli import main

    clip, folder, _, _ = walker
    out = tmp_path / "cli.mp4"
    assert main(["remove", str(clip), "-m", str(folder), "--segments", "8", "--radius", "3",
                 "-o", str(out)]) == 0
    assert "30 frames" in capsys.readouterr().out and probe(out).frames == 30
    assert main(["remove", str(clip), "-m", str(folder), "--segments", "8", "--start", "1",
                 "-o", str(tmp_path / "b.mp4")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--segments works on whole clips" in err


# --- photomend batch ---------------------------------------------------------------------------
@pytest.fixture
def videos(tmp_path):
    """Two clips in in/, their masks in masks/: a.png (every frame of a.mp4) and b/ (one per
    frame of b.mkv)."""
    folder, masks = tmp_path / "in", tmp_path / "masks"
    folder.mkdir()
    (masks / "b").mkdir(parents=True)
    frames, walk, _ = object_clip(n=12)
    write_clip(folder / "a.mp4", frames)
    make_clip(folder / "b.mkv", frames=7, size=(48, 64), audio=False, static=True)
    logo = np.zeros((48, 64), np.uint8)
    logo[2:8, 40:60] = 255
    cv2.imwrite(str(masks / "a.png"), logo)
    for i in range(7):
        m = np.zeros((48, 64), np.uint8)
        m[20:30, 4 + 4 * i:14 + 4 * i] = 255
        cv2.imwrite(str(masks / "b" / f"{i:04d}.png"), m)
    return folder, masks


def _job(videos, tmp_path, **kw):
    step = Step("remove_video", {"mask_dir": str(videos[1]), "segment": 5, "radius": 3})
    return JobSpec(steps=(step,), input_dir=videos[0], output_dir=tmp_path / "out", **kw)


def test_batch_job_killed_resumes_at_the_first_unfinished_segment(videos, tmp_path):
    job = _job(videos, tmp_path, workers=1)
    with pytest.raises(KeyboardInterrupt):
        run_job(job, progress=False, executor_factory=DiesAfterOne)
    parts = tmp_path / "out" / "a.mp4.parts"
    assert sorted(p.name for p in parts.glob("*.mkv")) == ["00000.mkv", "00001.mkv"]
    assert (parts / "background.npz").is_file() and not (tmp_path / "out" / "a.mp4").exists()
    summary = run_job(job, progress=False, executor_factory=InlineExecutor)
    assert summary.exit_code == 0, summary.lines()
    # a.mp4: 3 segments, b.mkv: 2; segment 0 journaled as done: skipped; segment 1 written
    # but not heard of: kept; the other three run
    assert (summary.done, summary.skipped, summary.kept) == (4, 1, 1)
    records = {r.key: r for r in read_journal(job.journal_path)}
    assert records["a.mp4#00000"].attempts == 1
    out_a, out_b = tmp_path / "out" / "a.mp4", tmp_path / "out" / "b.mkv"
    assert probe(out_a).frames == 12 and probe(out_b).frames == 7 and not parts.exists()
    assert audio_packets(out_a) == audio_packets(videos[0] / "a.mp4")
    # the same as the segments run in one process, each video with its own masks
    ref = remove_video_segments(videos[0] / "a.mp4", tmp_path / "ref.mp4",
                                videos[1] / "a.png", frames=5, radius=3)
    assert np.abs(_frames(out_a) - _frames(ref.output)).max() <= 2 / 255
    # b.mkv: a still scene, nothing under its masks but the scene: the fill is the truth
    b, src = _frames(out_b), _frames(videos[0] / "b.mkv")
    for k in range(7):
        m = cv2.imread(str(videos[1] / "b" / f"{k:04d}.png"), 0) > 0
        assert masked_psnr(b[k], src[k], m, dilate=0) > 35, k
    again = run_job(job, progress=False, executor_factory=InlineExecutor)
    assert (again.exit_code, again.done, again.skipped) == (0, 0, 5)


def test_batch_bad_options_and_missing_masks(videos, tmp_path):
    with pytest.raises(InputError, match="keep needs auto"):
        run_job(JobSpec(steps=(Step("remove_video", {"keep": [[1, 2]], "mask": "x"}),),
                        input_dir=videos[0], output_dir=tmp_path / "o1"), progress=False)
    (videos[1] / "b" / "0004.png").unlink()
    summary = run_job(_job(videos, tmp_path, workers=1), progress=False,
                      executor_factory=InlineExecutor)
    assert summary.exit_code != 0 and (tmp_path / "out" / "a.mp4").is_file()
    assert any("frame 5 " in why for _, why in summary.failed), summary.failed


def test_sigkill_of_a_real_run_then_rerun(tmp_path):
    """The driver and its workers killed (SIGKILL) while segments are in work; mask_dir is
    relative to the job file."""
    import subprocess
    import sys

    (tmp_path / "in").mkdir()
    (tmp_path / "masks" / "long").mkdir(parents=True)
    frames, masks, _ = object_clip(n=90, h=96, w=128)
    write_clip(tmp_path / "in" / "long.mp4", frames)
    for i, m in enumerate(masks):
        cv2.imwrite(str(tmp_path / "masks" / "long" / f"{i:06d}.png"), m.astype(np.uint8) * 255)
    job = tmp_path / "job.toml"
    job.write_text('steps = [{op = "remove_video", mask_dir = "masks", segment = 5, '
                   'radius = 3}]\n[input]\nfolder = "in"\n[output]\nfolder = "out"\n'
                   '[run]\nworkers = 2\n')
    parts = tmp_path / "out" / "long.mp4.parts"
    kept = kill_batch_mid_job(job, parts)
    assert not (tmp_path / "out" / "long.mp4").exists()
    assert 2 <= len(kept) < 18 and (parts / "background.npz").is_file()
    rerun = subprocess.run([sys.executable, "-m", "photomend", "batch", str(job)],
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    out = tmp_path / "out" / "long.mp4"
    assert probe(out).frames == 90 and not parts.exists()
    assert audio_packets(out) == audio_packets(tmp_path / "in" / "long.mp4")
    records = {r.key: r for r in read_journal(tmp_path / "out" / ".photomend-batch.sqlite")}
    assert all(r.status == "done" for k, r in records.items() if k.startswith("long.mp4#"))
    # the same as one uninterrupted run of the segments
    ref = remove_video_segments(tmp_path / "in" / "long.mp4", tmp_path / "ref.mp4",
                                tmp_path / "masks" / "long", frames=5, radius=3)
    assert np.abs(_frames(out) - _frames(ref.output)).max() <= 2 / 255


def test_batch_masks_folder_of_the_job(videos, tmp_path, capsys):
    """``photomend batch -i in -o out --steps remove_video --masks masks``: a remove_video step
    without masks of its own takes the job's masks folder as mask_dir."""
    from photomend.cli import main

    folder, masks = videos
    assert main(["batch", "-i", str(folder), "-o", str(tmp_path / "out"), "--steps",
                 "remove_video", "--masks", str(masks), "-q"]) == 0
    assert probe(tmp_path / "out" / "a.mp4").frames == 12
    assert probe(tmp_path / "out" / "b.mkv").frames == 7
    assert main(["batch", "-i", str(folder), "-o", str(tmp_path / "out2"), "--steps",
                 "remove_video", "-q"]) != 0  # no masks at all: refused before any work
    assert "nothing to remove" in capsys.readouterr().err
    assert not (tmp_path / "out2" / "a.mp4").exists()


def test_ray_actors_run_the_removal_segments(videos, tmp_path):
    pytest.importorskip("ray")
    summary = run_job(_job(videos, tmp_path, workers=2, engine="ray"), progress=False)
    assert summary.exit_code == 0, summary.lines()
    assert "ray" in summary.engine.lower() and summary.done == 5  # a.mp4: 3 segments, b.mkv: 2
    assert probe(tmp_path / "out" / "a.mp4").frames == 12
