"""Kill a real batch run (driver + 2 worker processes) half-way, with SIGINT and with SIGKILL,
and run it again: every photo ends up done exactly once, no output is truncated, and the
journal agrees with the files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from test_batch import STEP_MODULE, make_photos

from photomend.batch import read_journal
from photomend.zoo import sha256_of

N_PHOTOS = 10


def _job(tmp_path: Path) -> Path:
    make_photos(tmp_path / "in", N_PHOTOS, masks=tmp_path / "masks", size=(96, 64))
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "batchsteps.py").write_text(STEP_MODULE)
    job = tmp_path / "job.toml"
    job.write_text(
        'steps = [{op = "remove", engine = "telea"}, {op = "batchsteps:slow", delay = 0.3},\n'
        f'         {{op = "batchsteps:record_threads", log = "{tmp_path / "threads.log"}"}}]\n'
        '[input]\nfolder = "in"\nmasks = "masks"\n[output]\nfolder = "out"\nformat = "png"\n'
        "[run]\nworkers = 2\n")
    return job


def _start(tmp_path: Path, job: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path / "mods"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-m", "photomend", "batch", str(job)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _done_count(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        db = sqlite3.connect(journal, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM items WHERE status = 'done'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def _wait_half_way(proc: subprocess.Popen, journal: Path) -> None:
    deadline = time.monotonic() + 60
    while _done_count(journal) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the job never got going"
        time.sleep(0.05)


def _session_alive(sid: int) -> bool:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[4]) == sid and fields[0] != "Z":  # field 6 of stat: session id
                return True
    return False


def _check_complete(tmp_path: Path) -> None:
    journal = tmp_path / "out" / ".photomend-batch.sqlite"
    records = list(read_journal(journal))
    assert len(records) == N_PHOTOS
    assert all(r.status == "done" for r in records), [(r.key, r.status) for r in records]
    for r in records:
        out = Path(r.output)
        assert sha256_of(out) == r.checksum
        with Image.open(out) as im:
            im.load()  # a truncated file raises here
    db = sqlite3.connect(journal)
    done = dict(db.execute("SELECT key, COUNT(*) FROM history WHERE event = 'done' GROUP BY key"))
    db.close()
    assert done == {r.key: 1 for r in records}  # every photo done exactly once
    leftovers = [p.name for p in (tmp_path / "out").iterdir()
                 if p.name.endswith(".tmp")]
    assert leftovers == []
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == \
        [f"photo{i:02d}.png" for i in range(N_PHOTOS)]


def _check_workers(tmp_path: Path, *, driver_pids: set[int]) -> None:
    """Photos ran in worker processes (2 per run at most, each loading the steps once), with
    their thread pools capped at cores // 2."""
    lines = [line.split() for line in (tmp_path / "threads.log").read_text().splitlines()]
    pids = {int(pid) for pid, *_ in lines}
    assert len(lines) >= N_PHOTOS and len(pids) <= 4 and not pids & driver_pids
    caps = str(max(1, len(os.sched_getaffinity(0)) // 2))
    assert {tuple(rest) for _, *rest in lines} == {(caps, caps, caps, caps)}


@pytest.mark.parametrize("how", ["SIGINT", "SIGINT twice", "SIGKILL"])
def test_killed_job_resumes_and_does_each_photo_once(tmp_path, how):
    job = _job(tmp_path)
    journal = tmp_path / "out" / ".photomend-batch.sqlite"
    proc = _start(tmp_path, job)
    _wait_half_way(proc, journal)
    os.kill(proc.pid, signal.SIGKILL if how == "SIGKILL" else signal.SIGINT)
    if how == "SIGINT twice":  # the second one aborts the photos in work
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if how == "SIGINT":  # graceful: the photos in work are finished and recorded
        assert proc.returncode == 130, err
        assert "interrupted" in out
        assert not [r for r in read_journal(journal) if r.status == "running"]
    elif how == "SIGINT twice":
        assert proc.returncode == 130, err
    else:
        deadline = time.monotonic() + 20  # orphaned workers notice and leave
        while _session_alive(proc.pid):
            assert time.monotonic() < deadline, "worker processes outlived their driver"
            time.sleep(0.1)
    assert _done_count(journal) < N_PHOTOS, "killed too late to test anything"

    again = _start(tmp_path, job)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    assert "0 failed" in out
    _check_complete(tmp_path)
    _check_workers(tmp_path, driver_pids={proc.pid, again.pid})

