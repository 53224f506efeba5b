"""``photomend batch`` with a video step: every video cut into segments that local worker
processes (or Ray actors) run, joined without re-encoding; a killed job resumes at the first
unfinished segment; a joined video is skipped on the next run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("av")

from video_clips import DiesAfterOne, audio_packets, frame_times, kill_batch_mid_job, make_clip  # noqa: E402

from photomend.batch import JobSpec, Step, read_journal, run_job  # noqa: E402
from photomend.batch.local import InlineExecutor  # noqa: E402
from photomend.errors import InputError  # noqa: E402
from photomend.video.reader import probe, read_frames  # noqa: E402
from photomend.video.segments import upscale_video_segments  # noqa: E402

STEP = Step("upscale_video", {"scale": 2, "model": "compact-vsr", "segment": 5})


def _frames(path):
    return np.stack([f.rgb for f in read_frames(path)])


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    make_clip(folder / "a.mp4", frames=12, size=(24, 32), rotation=90)
    make_clip(folder / "b.mkv", frames=7, size=(18, 26), audio=False)
    (folder / "notes.txt").write_text("not a video")
    return folder


def _job(clips, tmp_path, **kw):
    return JobSpec(steps=(STEP,), input_dir=clips, output_dir=tmp_path / "out", **kw)


def test_local_workers_upscale_every_segment_and_join(clips, tmp_path):
    summary = run_job(_job(clips, tmp_path, workers=2), progress=False)
    assert summary.exit_code == 0, summary.lines()
    assert (summary.done, summary.total) == (3 + 2, 5)
    assert "2 local workers" in summary.engine and "segments/min" in summary.lines()[0]
    out_a, out_b = tmp_path / "out" / "a.mp4", tmp_path / "out" / "b.mkv"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()
                  if not p.name.startswith(".")) == ["a.mp4", "b.mkv"]  # parts removed
    info = probe(out_a)
    assert (info.frames, info.width, info.height, info.rotation) == (12, 64, 48, 90)
    assert frame_times(out_a) == pytest.approx(frame_times(clips / "a.mp4"), abs=1e-6)
    assert audio_packets(out_a) == audio_packets(clips / "a.mp4")
    assert (probe(out_b).frames, probe(out_b).width) == (7, 52)
    # the same as segments run one after the other in this process
    ref = upscale_video_segments(clips / "a.mp4", tmp_path / "ref.mp4", 2, model="compact-vsr",
                                 frames=5)
    assert ref.frames == 12
    assert np.abs(_frames(out_a) - _frames(tmp_path / "ref.mp4")).max() <= 2 / 255
    # run again: nothing to do, every segment skipped
    again = run_job(_job(clips, tmp_path, workers=2), progress=False)
    assert (again.exit_code, again.done, again.skipped) == (0, 0, 5)


def test_a_killed_job_resumes_at_the_first_unfinished_segment(clips, tmp_path):
    job = _job(clips, tmp_path, workers=1)
    with pytest.raises(KeyboardInterrupt):
        run_job(job, progress=False, executor_factory=DiesAfterOne)
    parts = tmp_path / "out" / "a.mp4.parts"
    done = sorted(p.name for p in parts.glob("*.mkv"))
    assert done == ["00000.mkv", "00001.mkv"] and not (tmp_path / "out" / "a.mp4").exists()
    summary = run_job(job, progress=False, executor_factory=InlineExecutor)
    assert summary.exit_code == 0, summary.lines()
    # segment 0 was journaled as done: skipped; segment 1 was written but the driver died
    # before it heard: its file is kept, not redone; the other three are run
    assert (summary.done, summary.skipped, summary.kept) == (4, 1, 1)
    records = {r.key: r for r in read_journal(job.journal_path)}
    assert records["a.mp4#00000"].attempts == 1
    assert probe(tmp_path / "out" / "a.mp4").frames == 12 and not parts.exists()


def test_sigkill_of_a_real_run_then_rerun(clips, tmp_path):
    """The driver and its workers killed (SIGKILL) while segments are in work."""
    (clips / "b.mkv").unlink()
    make_clip(clips / "long.mp4", frames=30, size=(24, 32))
    job = tmp_path / "job.toml"
    job.write_text('steps = [{op = "upscale_video", scale = 2, model = "compact-vsr", '
                   'segment = 5}]\n[input]\nfolder = "in"\n[output]\nfolder = "out"\n'
                   '[run]\nworkers = 2\n')
    parts = tmp_path / "out" / "long.mp4.parts"
    kept = kill_batch_mid_job(job, parts)
    assert not (tmp_path / "out" / "long.mp4").exists()
    assert 2 <= len(kept) < 6
    rerun = subprocess.run([sys.executable, "-m", "photomend", "batch", str(job)],
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    out = tmp_path / "out" / "long.mp4"
    assert probe(out).frames == 30 and not parts.exists()
    assert audio_packets(out) == audio_packets(clips / "long.mp4")
    records = {r.key: r for r in read_journal(tmp_path / "out" / ".photomend-batch.sqlite")}
    assert all(r.status == "done" for k, r in records.items() if k.startswith("long.mp4#"))


def test_video_step_with_photo_steps_or_bad_options_is_refused(clips, tmp_path):
    with pytest.raises(InputError, match="a video job has one step"):
        run_job(JobSpec(steps=(STEP, Step("restore")), input_dir=clips,
                        output_dir=tmp_path / "o1"), progress=False)
    with pytest.raises(InputError, match="bad options for upscale_video"):
        run_job(JobSpec(steps=(Step("upscale_video", {"sharpness": 2}),), input_dir=clips,
                        output_dir=tmp_path / "o2"), progress=False)
    with pytest.raises(InputError, match="x2 and x4, not x3"):
        run_job(JobSpec(steps=(Step("upscale_video", {"scale": 3, "model": "compact-vsr"}),),
                        input_dir=clips, output_dir=tmp_path / "o3"), progress=False)


def test_an_output_that_is_not_this_jobs_is_not_overwritten(clips, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.mp4").write_bytes(b"someone else's")
    summary = run_job(_job(clips, tmp_path, workers=1), progress=False,
                      executor_factory=InlineExecutor)
    assert summary.exit_code != 0
    assert any(key == "a.mp4" and "not this job's" in why for key, why in summary.failed)
    assert (tmp_path / "out" / "a.mp4").read_bytes() == b"someone else's"
    assert probe(tmp_path / "out" / "b.mkv").frames == 7  # the other video is done


def test_ray_actors_run_the_segments(clips, tmp_path):
    pytest.importorskip("ray")
    summary = run_job(_job(clips, tmp_path, workers=2, engine="ray"), progress=False)
    assert summary.exit_code == 0, summary.lines()
    assert "ray" in summary.engine.lower() and summary.done == 5
    assert probe(tmp_path / "out" / "a.mp4").frames == 12
