"""Batch jobs: job files, manifests, the journal, resuming, retries and per-photo faults.

Most runs use the in-process executor (fast, and faults can be injected with monkeypatch);
tests/test_batch_kill.py runs real worker processes and kills the driver.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from photomend.batch import JobSpec, Step, load_job, read_journal, run_job
from photomend.batch.job import list_items, parse_steps
from photomend.batch.journal import Journal
from photomend.batch.local import InlineExecutor
from photomend.cli import main
from photomend.errors import InputError, OutputError
from photomend.io import read_image

STEP_MODULE = '''
import os, time
from pathlib import Path

def flaky(image, *, mask, hints, marker):
    """Fails the first time it sees a photo (a marker file per photo), works afterwards."""
    flag = Path(marker) / (Path(image.path).name + ".seen")
    if not flag.exists():
        flag.write_text("x")
        raise RuntimeError("transient failure")
    return image

def always_fails(image, *, mask, hints):
    raise RuntimeError("this step always fails")

def slow(image, *, mask, hints, delay=0.2):
    time.sleep(delay)
    return image

def record_threads(image, *, mask, hints, log):
    """Appends this worker's pid and thread caps to ``log``."""
    import cv2, numba
    caps = [os.getpid(), os.environ.get("OMP_NUM_THREADS"), cv2.getNumThreads(),
            numba.get_num_threads(), os.environ.get("PHOTOMEND_THREADS")]
    with open(log, "a") as fh:
        print(*caps, file=fh)
    return image

def die_once(image, *, mask, hints, marker):
    """Kills its worker process the first time it sees a photo named *_die.*."""
    flag = Path(marker) / (Path(image.path).name + ".died")
    if "_die" in Path(image.path).stem and not flag.exists():
        flag.write_text("x")
        os._exit(3)
    return image
'''


def make_photos(folder: Path, n: int, *, masks: Path | None = None, size=(64, 48),
                skip_mask: tuple[int, ...] = (), names=None) -> list[Path]:
    """``n`` small JPEGs with an sRGB ICC profile and EXIF, and a PNG mask each in ``masks``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "photomend-test-camera"  # Make
    paths = []
    for i in range(n):
        w, h = size
        yy, xx = np.mgrid[0:h, 0:w]
        rgb = np.stack([xx * 255 / w, yy * 255 / h, 128 + 60 * np.sin(xx / 4.0 + i)], axis=2)
        rgb = np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)
        name = names[i] if names else f"photo{i:02d}.jpg"
        path = folder / name
        Image.fromarray(rgb).save(path, quality=92, icc_profile=icc, exif=exif.tobytes())
        paths.append(path)
        if masks is not None and i not in skip_mask:
            masks.mkdir(parents=True, exist_ok=True)
            m = np.zeros((h, w), np.uint8)
            m[h // 3:h // 2, w // 3:w // 2] = 255
            Image.fromarray(m).save(masks / f"{path.stem}_mask.png")
    return paths


def remove_job(tmp: Path, **kw) -> JobSpec:
    kw.setdefault("steps", (Step("remove", {"engine": "telea"}),))
    kw.setdefault("output_dir", tmp / "out")
    return JobSpec(input_dir=tmp / "in", masks_dir=tmp / "masks", **kw)


def run_inline(job: JobSpec, **kw):
    return run_job(job, progress=False, executor_factory=InlineExecutor, **kw)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def done_events(journal: Path) -> dict[str, int]:
    db = sqlite3.connect(journal)
    rows = db.execute("SELECT key, COUNT(*) FROM history WHERE event = 'done' GROUP BY key")
    out = dict(rows.fetchall())
    db.close()
    return out


@pytest.fixture
def steps_module(tmp_path, monkeypatch):
    """An importable module of custom steps (``batchsteps:flaky`` ...)."""
    folder = tmp_path / "mods"
    folder.mkdir()
    (folder / "batchsteps.py").write_text(STEP_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    return folder


# -- job files and items ------------------------------------------------------------------------


def test_job_file_round_trip(tmp_path):
    job_file = tmp_path / "job.toml"
    job_file.write_text('''
[input]
folder = "scans"
masks = "masks"

[output]
folder = "out"
name = "{stem}_fixed"
format = "png"
quality = 90

[[steps]]
op = "remove"
engine = "telea"
seed = 3

[run]
workers = 2
retries = 1
''')
    job = load_job(job_file)
    assert job.input_dir == tmp_path / "scans" and job.masks_dir == tmp_path / "masks"
    assert job.steps == (Step("remove", {"engine": "telea", "seed": 3}),)
    assert (job.name, job.format, job.quality, job.workers, job.retries) == \
        ("{stem}_fixed", "png", 90, 2, 1)
    assert job.journal_path == tmp_path / "out" / ".photomend-batch.sqlite"


@pytest.mark.parametrize("text, message", [
    ('[output]\nfolder = "o"\n[input]\nfolder = "i"\n[run]\nspeed = 3\nsteps = ["remove"]',
     "unknown key"),
    ('steps = ["remove"]\n[input]\nfolder = "i"', "folder is required"),
    ('steps = ["remove"]\n[output]\nfolder = "o"', "exactly one of"),
    ('steps = []\n[input]\nfolder = "i"\n[output]\nfolder = "o"', "no steps"),
    ('steps = ["remove"]\n[input]\nfolder = "i"\n[output]\nfolder = "o"\nformat = "gif"',
     "unknown output format"),
    ("steps = [", "not valid TOML"),
])
def test_bad_job_files(tmp_path, text, message):
    (tmp_path / "job.toml").write_text(text)
    with pytest.raises(InputError, match=message):
        load_job(tmp_path / "job.toml")


def test_steps_forms():
    assert parse_steps("restore, colorize") == (Step("restore"), Step("colorize"))
    assert parse_steps([{"op": "upscale", "scale": 4}]) == (Step("upscale", {"scale": 4}),)
    with pytest.raises(InputError):
        parse_steps([3])


def test_unknown_operation_and_option_fail_before_work(tmp_path):
    make_photos(tmp_path / "in", 1, masks=tmp_path / "masks")
    with pytest.raises(InputError, match="unknown operation 'sharpen'"):
        run_inline(remove_job(tmp_path, steps=(Step("sharpen"),)))
    with pytest.raises(InputError, match="no option"):
        run_inline(remove_job(tmp_path, steps=(Step("remove", {"radius": 3}),)))
    assert not (tmp_path / "out").exists()


def test_a_detector_that_is_not_installed_fails_before_work(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "no-models"))
    make_photos(tmp_path / "in", 1, masks=tmp_path / "masks")
    with pytest.raises(InputError, match="photomend models fetch bopbtl-scratch"):
        run_inline(remove_job(tmp_path, steps=(Step("restore", {"detector": "bopbtl"}),)))
    assert not (tmp_path / "out").exists()


def test_manifest_csv_and_jsonl(tmp_path):
    photos = make_photos(tmp_path / "in", 3)
    m = np.zeros((48, 64), np.uint8)
    m[5:9, 5:9] = 255
    Image.fromarray(m).save(tmp_path / "only.png")
    (tmp_path / "list.csv").write_text("path,mask\nin/photo00.jpg,only.png\nin/photo01.jpg,\n")
    job = JobSpec(steps=(Step("remove"),), manifest=tmp_path / "list.csv",
                  output_dir=tmp_path / "out", format="png")
    items = list_items(job, needs_mask=True, wants_hints=False)
    assert [it.key for it in items] == ["in/photo00.jpg", "in/photo01.jpg"]
    assert items[0].mask == str(tmp_path / "only.png") and items[0].problem is None
    assert "no mask" in items[1].problem
    assert items[0].output == str(tmp_path / "out" / "photo00.png")

    lines = [json.dumps({"path": str(p), "output": f"sub/{p.stem}.webp"}) for p in photos]
    (tmp_path / "list.jsonl").write_text("\n".join(lines) + "\n")
    job = JobSpec(steps=(Step("remove"),), manifest=tmp_path / "list.jsonl",
                  output_dir=tmp_path / "out")
    items = list_items(job, needs_mask=False, wants_hints=False)
    assert [Path(it.output).relative_to(tmp_path / "out").as_posix() for it in items] == \
        ["sub/photo00.webp", "sub/photo01.webp", "sub/photo02.webp"]


def test_two_inputs_one_output_is_refused(tmp_path):
    make_photos(tmp_path / "in", 2, names=["a.jpg", "a.png"])
    job = JobSpec(steps=(Step("remove"),), input_dir=tmp_path / "in",
                  output_dir=tmp_path / "out", format="jpg")
    with pytest.raises(InputError, match="both be written"):
        list_items(job, needs_mask=False, wants_hints=False)


# -- running, resuming ----------------------------------------------------------------------------


def test_run_keeps_metadata_and_resumes_without_redoing(tmp_path):
    photos = make_photos(tmp_path / "in", 4, masks=tmp_path / "masks")
    originals = {p: sha(p) for p in photos}
    job = remove_job(tmp_path)
    summary = run_inline(job)
    assert (summary.done, summary.skipped, summary.failed, summary.exit_code) == (4, 0, [], 0)
    out = tmp_path / "out" / "photo00.jpg"
    src, res = read_image(photos[0]), read_image(out)
    assert res.icc_profile == src.icc_profile and res.exif == src.exif
    assert {p: sha(p) for p in photos} == originals  # originals untouched

    records = {r.key: r for r in read_journal(job.journal_path)}
    assert all(r.status == "done" and r.checksum == sha(Path(r.output))
               for r in records.values())
    mtime = out.stat().st_mtime_ns
    again = run_inline(job)
    assert (again.done, again.skipped, again.exit_code) == (0, 4, 0)
    assert out.stat().st_mtime_ns == mtime
    assert done_events(job.journal_path) == dict.fromkeys(records, 1)

    out.unlink()  # a deleted output is made again; a changed one is reported, not overwritten
    changed = tmp_path / "out" / "photo01.jpg"
    changed.write_bytes(changed.read_bytes() + b"x")
    third = run_inline(job)
    assert third.done == 1 and out.exists()
    assert [k for k, _ in third.failed] == ["photo01.jpg"] and "checksum" in third.failed[0][1]
    assert third.exit_code != 0


def test_per_photo_faults_do_not_stop_the_job(tmp_path):
    make_photos(tmp_path / "in", 4, masks=tmp_path / "masks", skip_mask=(2,))
    (tmp_path / "in" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(tmp_path / "masks" / "corrupt.png")
    (tmp_path / "in" / "unreadable.jpg").write_bytes((tmp_path / "in" / "photo00.jpg").read_bytes())
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(tmp_path / "masks" / "unreadable.png")
    os.chmod(tmp_path / "in" / "unreadable.jpg", 0)
    job = remove_job(tmp_path)
    try:
        summary = run_inline(job)
    finally:
        os.chmod(tmp_path / "in" / "unreadable.jpg", 0o644)
    reasons = dict(summary.failed)
    assert summary.done == 3 + (os.geteuid() == 0)  # root can read a mode-000 file
    assert "no mask for photo02.jpg" in reasons["photo02.jpg"]
    assert "corrupt.jpg" in reasons
    if os.geteuid() != 0:
        assert "unreadable.jpg" in reasons
    assert summary.exit_code == 2
    records = {r.key: r for r in read_journal(job.journal_path)}
    assert records["corrupt.jpg"].status == "failed" and records["corrupt.jpg"].kind == "input"
    assert records["corrupt.jpg"].failures == 1  # input errors are not retried within a run


def test_full_disk_fails_cleanly_and_keeps_what_was_written(tmp_path, monkeypatch):
    make_photos(tmp_path / "in", 5, masks=tmp_path / "masks")
    job = remove_job(tmp_path, retries=1)
    real_fsync, calls = os.fsync, {"n": 0}

    def fsync_until_full(fd):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_until_full)
    summary = run_inline(job)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert summary.done == 2 and len(summary.failed) == 3
    assert all("No space left on device" in reason for _, reason in summary.failed)
    written = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert written == ["photo00.jpg", "photo01.jpg"]
    assert not list((tmp_path / "out").glob(".*.tmp"))  # no half-written files
    records = {r.key: r for r in read_journal(job.journal_path)}
    assert records["photo04.jpg"].failures == 2  # the first try and one retry
    kept = {name: sha(tmp_path / "out" / name) for name in written}

    freed = run_inline(job)  # out of retries: reported, not run, until --reset-failed
    assert freed.done == 0 and len(freed.failed) == 3 and "gave up" in freed.failed[0][1]
    freed = run_inline(job, reset_failed=True)
    assert (freed.done, freed.skipped, freed.failed) == (3, 2, [])
    assert {name: sha(tmp_path / "out" / name) for name in written} == kept
    assert set(done_events(job.journal_path).values()) == {1}


def test_transient_failures_are_retried_within_the_run(tmp_path, steps_module):
    make_photos(tmp_path / "in", 3, masks=tmp_path / "masks")
    marker = tmp_path / "marks"
    marker.mkdir()
    job = remove_job(tmp_path, steps=(Step("batchsteps:flaky", {"marker": str(marker)}),))
    summary = run_inline(job)
    assert (summary.done, summary.failed) == (3, [])
    assert all(r.attempts == 2 and r.failures == 1 for r in read_journal(job.journal_path))

    job = remove_job(tmp_path, steps=(Step("batchsteps:always_fails"),), retries=1,
                     output_dir=tmp_path / "out2")
    summary = run_inline(job)
    assert len(summary.failed) == 3 and summary.exit_code == 1
    assert "RuntimeError: this step always fails" in summary.failed[0][1]
    assert all(r.failures == 2 for r in read_journal(job.journal_path))


def test_originals_and_foreign_files_are_never_overwritten(tmp_path):
    photos = make_photos(tmp_path / "in", 2, masks=tmp_path / "masks")
    before = {p: sha(p) for p in photos}
    with pytest.raises(InputError, match="output folder is the input folder"):
        run_inline(remove_job(tmp_path, output_dir=tmp_path / "in"))
    (tmp_path / "list.csv").write_text("path,mask,output\n"
                                       "in/photo00.jpg,masks/photo00_mask.png,../in/photo00.jpg\n")
    job = JobSpec(steps=(Step("remove"),), manifest=tmp_path / "list.csv",
                  output_dir=tmp_path / "o")
    summary = run_inline(job)
    assert summary.done == 0 and "would overwrite an original" in summary.failed[0][1]
    assert {p: sha(p) for p in photos} == before

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "photo01.jpg").write_bytes(b"someone else's file")
    summary = run_inline(remove_job(tmp_path))
    assert summary.done == 1 and "already exists" in dict(summary.failed)["photo01.jpg"]
    (record,) = [r for r in read_journal(tmp_path / "out" / ".photomend-batch.sqlite")
                 if r.key == "photo01.jpg"]
    assert (record.kind, record.failures) == ("conflict", 1)  # not retried: it would not help
    assert (tmp_path / "out" / "photo01.jpg").read_bytes() == b"someone else's file"


def test_journal_belongs_to_one_job_and_one_driver(tmp_path):
    make_photos(tmp_path / "in", 1, masks=tmp_path / "masks")
    run_inline(remove_job(tmp_path))
    with pytest.raises(InputError, match="other steps or output"):
        run_inline(remove_job(tmp_path, quality=80))
    job = remove_job(tmp_path)
    with Journal(job.journal_path, fingerprint=job.fingerprint()), \
            pytest.raises(OutputError, match="another photomend batch"):
        run_inline(job)


def test_cli_batch(tmp_path, capsys):
    make_photos(tmp_path / "in", 2, masks=tmp_path / "masks", skip_mask=(1,))
    job_file = tmp_path / "job.toml"
    job_file.write_text('steps = [{op = "remove", engine = "telea"}]\n[input]\nfolder = "in"\n'
                        'masks = "masks"\n[output]\nfolder = "out"\nformat = "png"\n')
    code = main(["batch", str(job_file), "--workers", "1", "--retries", "0"])
    out = capsys.readouterr()
    assert code == 2
    assert "1 done" in out.out and "photo01.jpg: no mask" in out.out
    assert (tmp_path / "out" / "photo00.png").is_file()
    code = main(["batch", "--input", str(tmp_path / "in"), "--steps", "remove",
                 "-o", str(tmp_path / "o2")])
    assert code == 2 and "no mask" in capsys.readouterr().out  # no --masks: every photo fails
    assert main(["batch", "--steps", "remove"]) == 2
    assert "give a job file" in capsys.readouterr().err


def test_example_job_files_and_docs_parse():
    root = Path(__file__).resolve().parent.parent
    if not (root / "examples").is_dir():
        pytest.skip("needs the source checkout")
    for path in sorted((root / "examples").glob("*.toml")):
        job = load_job(path)
        assert job.steps and job.output_dir.parent == path.parent
    text = (root / "docs" / "batch.md").read_text(encoding="utf-8")
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    import tomllib

    from photomend.batch.job import job_from_dict

    assert [s.op for s in job_from_dict(tomllib.loads(block)).steps] == \
        ["restore", "colorize", "upscale"]


def test_companion_index_agrees_with_find_companion(tmp_path):
    from photomend.files import CompanionIndex, find_companion

    names = ["a.png", "a_mask.png", "a.jpg", "b_mask.tif", "b_mask.jpg", "c.x.png", "c.txt",
             "d_mask.webp", "d.TIF", "e[1].png", "f_mask.png"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "f.png").mkdir()  # a folder is no mask
    index = CompanionIndex(tmp_path, tag="mask")
    for stem in ["a", "b", "c", "c.x", "d", "e[1]", "f", "zzz"]:
        image = Path("/elsewhere") / f"{stem}.jpg"
        assert index.find(image) == find_companion(image, tmp_path, tag="mask"), stem
    assert index.find(tmp_path / "a.jpg") == tmp_path / "a.png"
    assert index.find(tmp_path / "a.png") == tmp_path / "a_mask.png"  # never the image itself


def test_output_of_a_killed_run_is_kept_and_its_temporaries_removed(tmp_path):
    make_photos(tmp_path / "in", 3, masks=tmp_path / "masks")
    job = remove_job(tmp_path)
    run_inline(job)
    out = tmp_path / "out" / "photo01.jpg"
    mtime = out.stat().st_mtime_ns
    # As if the driver died after photo01 was written but before its result was recorded,
    # and photo02's worker died half-way through writing.
    db = sqlite3.connect(job.journal_path)
    db.execute("UPDATE items SET status = 'running', checksum = NULL WHERE key = 'photo01.jpg'")
    db.execute("DELETE FROM history WHERE key = 'photo01.jpg' AND event = 'done'")
    db.commit()
    db.close()
    (tmp_path / "out" / "photo02.jpg").unlink()
    db = sqlite3.connect(job.journal_path)
    db.execute("UPDATE items SET status = 'running' WHERE key = 'photo02.jpg'")
    db.execute("DELETE FROM history WHERE key = 'photo02.jpg' AND event = 'done'")
    db.commit()
    db.close()
    stale = tmp_path / "out" / ".photo02.jpg.0123abcd.tmp"
    stale.write_bytes(b"half a jpeg")
    foreign = tmp_path / "out" / ".notes.txt.0123abcd.tmp"
    foreign.write_bytes(b"not ours")

    summary = run_inline(job)
    assert (summary.done, summary.kept, summary.skipped, summary.failed) == (2, 1, 1, [])
    assert out.stat().st_mtime_ns == mtime  # kept, not rewritten
    assert not stale.exists() and foreign.exists()
    assert done_events(job.journal_path) == {"photo00.jpg": 1, "photo01.jpg": 1,
                                             "photo02.jpg": 1}
    assert all(r.checksum == sha(Path(r.output)) for r in read_journal(job.journal_path))


def test_chain_upscale_keeps_alpha_and_metadata(tmp_path):
    import photomend

    if not hasattr(photomend, "upscale"):
        pytest.skip("photomend.upscale is not in this installation")
    (tmp_path / "in").mkdir()
    rgba = np.zeros((24, 32, 4), np.uint8)
    rgba[..., 0] = np.arange(32, dtype=np.uint8)[None, :] * 8
    rgba[..., 3] = 255
    rgba[:, :8, 3] = 0  # a transparent band
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in" / "logo.png")
    job = JobSpec(steps=(Step("upscale", {"scale": 2, "model": "bicubic"}),),
                  input_dir=tmp_path / "in", output_dir=tmp_path / "out")
    summary = run_inline(job)
    assert (summary.done, summary.failed) == (1, [])
    out = np.asarray(Image.open(tmp_path / "out" / "logo.png"))
    assert out.shape == (48, 64, 4)
    assert out[:, :14, 3].max() < 40 and out[:, 18:, 3].min() > 215


def test_hints_are_found_by_the_rule_of_colorize(tmp_path):
    """The batch runner and `photomend colorize --hints FOLDER` find the same hints file,
    JSON included."""
    from photomend.files import CompanionIndex, HINT_SUFFIXES, find_hints

    (tmp_path / "a.json").write_text("[]")
    (tmp_path / "b_hints.png").write_bytes(b"")
    (tmp_path / "c.txt").write_text("")
    index = CompanionIndex(tmp_path, tag="hints", suffixes=HINT_SUFFIXES)
    for photo in ("in/a.jpg", "in/b.jpg", "in/c.jpg"):
        assert index.find(photo) == find_hints(photo, tmp_path)
    assert find_hints("in/a.jpg", tmp_path).name == "a.json"
    assert find_hints("in/b.jpg", tmp_path).name == "b_hints.png"
    assert find_hints("in/c.jpg", tmp_path) is None
