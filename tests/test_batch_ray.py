"""The Ray engine on a local Ray instance: same results and journal as the local engine, and a
Ray worker that dies mid-photo costs a retry, not the job. Ray starts once for the module."""

from __future__ import annotations

import os
import sqlite3
import sys

import pytest
from test_batch import STEP_MODULE, make_photos

from photomend.batch import JobSpec, Step, read_journal, run_job

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    mods = tmp_path_factory.mktemp("raymods")
    (mods / "batchsteps.py").write_text(STEP_MODULE)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(mods), old]))  # Ray workers
    os.environ.pop("RAY_ADDRESS", None)
    sys.path.insert(0, str(mods))  # the driver resolves the steps too
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield mods
    finally:
        ray.shutdown()
        sys.path.remove(str(mods))
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def test_ray_engine_runs_resumes_and_survives_a_dead_worker(tmp_path, ray_local):
    names = [f"photo{i:02d}.jpg" for i in range(5)] + ["photo05_die.jpg"]
    make_photos(tmp_path / "in", 6, masks=tmp_path / "masks", skip_mask=(4,), names=names)
    marker = tmp_path / "marks"
    marker.mkdir()
    job = JobSpec(steps=(Step("remove", {"engine": "telea"}),
                         Step("batchsteps:die_once", {"marker": str(marker)})),
                  input_dir=tmp_path / "in", masks_dir=tmp_path / "masks",
                  output_dir=tmp_path / "out", engine="ray", workers=2)
    summary = run_job(job, progress=False)
    assert summary.engine.startswith("2 Ray actors")
    assert summary.done == 5 and [k for k, _ in summary.failed] == ["photo04.jpg"]
    records = {r.key: r for r in read_journal(job.journal_path)}
    died = records["photo05_die.jpg"]
    assert died.status == "done" and died.attempts == 2 and died.failures == 1
    db = sqlite3.connect(job.journal_path)
    (detail,) = db.execute("SELECT detail FROM history WHERE key = 'photo05_die.jpg' AND "
                           "event = 'failed'").fetchone()
    db.close()
    assert "Ray worker died" in detail

    again = run_job(job, progress=False)  # resume: nothing redone
    assert (again.done, again.skipped) == (0, 5)
