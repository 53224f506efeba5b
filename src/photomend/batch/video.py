"""Video steps of ``photomend batch``: each input video is cut into segments
(:mod:`photomend.video.segments`), the segments are the job's items (run on the local workers or
the Ray actors like photos, each written atomically into ``OUT.parts/``, journaled with its
checksum), and the driver joins a video's segments without re-encoding once all are done.

A killed or interrupted job, run again, skips the segments the journal has as done (their
files still match) and resumes at the first unfinished one; a video already joined by an
earlier run is skipped. A job has one video step (``upscale_video``, ``remove_video``; any
operation of :data:`photomend.video.segments.RANGE_OPS`), with its options and these three:
``segment`` (frames per segment, default 250), ``crf`` (18) and ``preset`` ("medium"). An
operation that needs a pass over the whole clip (``remove_video``'s still-camera background)
does it in the driver when the video is planned, once (kept in the work folder).

>>> video_step([Step("upscale_video", {"scale": 2})]).op
'upscale_video'
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from photomend.batch.job import Item, JobSpec, Step, _manifest_rows
from photomend.errors import InputError

#: Options of a video step that are not the operation's own.
SEGMENT_OPTIONS = {"segment": 250, "crf": 18, "preset": "medium"}


#: Options of a video step that name files: relative ones are taken from the job file's folder.
PATH_OPTIONS = {"remove_video": ("mask", "mask_dir")}


def resolve_paths(step: Step, base: Path) -> Step:
    """``step`` with its path options (:data:`PATH_OPTIONS`) resolved from ``base``.

    >>> resolve_paths(Step("remove_video", {"mask": "m.png"}), Path("/jobs")).options["mask"]
    '/jobs/m.png'
    """
    names = [n for n in PATH_OPTIONS.get(step.op, ()) if isinstance(step.options.get(n), str)]
    if not names:
        return step
    options = dict(step.options)
    for n in names:
        options[n] = str(base / Path(options[n]).expanduser())
    return Step(step.op, options)


def with_job_masks(job: JobSpec) -> JobSpec:
    """``job`` with a ``remove_video`` step that names no mask (``mask``, ``mask_dir``,
    ``auto``) given the job's masks folder (``[input] masks``, ``--masks``) as ``mask_dir``.

    >>> j = with_job_masks(JobSpec(steps=(Step("remove_video"),), output_dir=Path("o"),
    ...                            input_dir=Path("i"), masks_dir=Path("m")))
    >>> j.steps[0].options
    {'mask_dir': 'm'}
    """
    if job.masks_dir is None or not any(
            s.op == "remove_video" and not {"mask", "mask_dir", "auto"} & set(s.options)
            for s in job.steps):
        return job
    steps = tuple(Step(s.op, {**s.options, "mask_dir": str(job.masks_dir)})
                  if s.op == "remove_video" and not {"mask", "mask_dir", "auto"} & set(s.options)
                  else s for s in job.steps)
    return replace(job, steps=steps)


def video_ops() -> tuple[str, ...]:
    from photomend.video.segments import RANGE_OPS

    return tuple(RANGE_OPS)


def video_step(steps: Sequence[Step]) -> Step | None:
    """The job's video step, or None for a photo job; InputError when a video step is mixed
    with other steps."""
    video = [s for s in steps if s.op in video_ops()]
    if not video:
        return None
    if len(steps) > 1:
        raise InputError(f"a video job has one step ({video[0].op}); run the photo steps "
                         "as a job of their own")
    return video[0]


@dataclass
class VideoTask:
    """One input video of a job: its plan (None when its output exists: ``joined``)."""

    key: str
    source: Path
    output: Path
    plan: Any = None  # photomend.video.segments.SegmentPlan
    joined: bool = False


def split_options(step: Step) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the operation's options, the segment options with their defaults)."""
    options = dict(step.options)
    seg = {k: options.pop(k, v) for k, v in SEGMENT_OPTIONS.items()}
    return options, seg


def video_items(job: JobSpec, step: Step) -> tuple[list[Item], list[VideoTask]]:
    """The segment items of every input video, and the videos. A video whose output exists
    without a work folder was joined by an earlier run (or is someone else's file: the
    journal decides, see :func:`settle_joined`); it has no items."""
    from photomend.video import segments
    from photomend.video.writer import CONTAINERS

    options, seg = split_options(step)
    op = segments.range_op(step.op, **options)  # bad options fail the job before any work
    items: list[Item] = []
    tasks: list[VideoTask] = []
    for key, src, subdir in _video_rows(job):
        stem = job.name.format(stem=src.stem, name=src.name, suffix=src.suffix.lstrip("."),
                               parent=src.parent.name)
        suffix = src.suffix.lower() if src.suffix.lower() in CONTAINERS else ".mp4"
        out = job.output_dir / subdir / f"{stem}{suffix}"
        task = VideoTask(key, src, out, joined=out.exists())
        tasks.append(task)
        if task.joined:
            continue
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            task.plan = segments.plan_segments(src, out, op, frames=int(seg["segment"]),
                                               crf=int(seg["crf"]), preset=str(seg["preset"]))
        except (InputError, OSError) as exc:  # this video is unusable: the others go on
            items.append(Item(key=f"{key}#plan", input=str(src), output=str(out),
                              problem=" ".join(str(exc).split())))
            continue
        items += [Item(key=f"{key}#{k:05d}", input=str(src), output=str(task.plan.part(k)),
                       segment=k) for k in range(len(task.plan.cuts))]
    if not tasks:
        from photomend.video.reader import VIDEO_SUFFIXES

        where = job.manifest if job.manifest is not None else job.input_dir
        raise InputError(f"no videos in {where} (looked for {', '.join(VIDEO_SUFFIXES)})")
    return items, tasks


def settle_joined(tasks: list[VideoTask], journal, summary) -> None:
    """Videos whose output exists: skipped when the journal has every segment of theirs
    done (an earlier run joined them), else failed (an output that is not this job's)."""
    from photomend.video.segments import work_folder

    records = journal.records()
    for task in tasks:
        if not task.joined:
            continue
        mine = [r for k, r in records.items() if k.startswith(f"{task.key}#")]
        if mine and all(r.status == "done" for r in mine):
            summary.total += len(mine)
            summary.skipped += len(mine)
            shutil.rmtree(work_folder(task.output), ignore_errors=True)  # a join cut short
        else:
            summary.total += 1
            summary.failed.append((task.key, f"{task.output} exists and is not this job's "
                                   "output; move it away to process this video"))


def join_ready(tasks: list[VideoTask], summary, log=None) -> None:
    """Join every video whose segments are all on disk (after the dispatch)."""
    from photomend.video.segments import join_segments

    for task in tasks:
        if task.plan is None or task.plan.missing():
            continue
        try:
            join_segments(task.plan)
        except Exception as exc:  # noqa: BLE001  (one video's join never stops the others)
            summary.failed.append((task.key, f"joining the segments failed: {exc}"))
            summary.unexpected |= not isinstance(exc, InputError)
            continue
        if log is not None:
            log(f"batch: joined {len(task.plan.cuts)} segments into {task.output}")


_OPS: dict[str, Any] = {}


def run_segment_item(item: Item, steps: Sequence[Step]) -> Path:
    """In a worker: segment ``item.segment`` of its video, from the plan in its folder."""
    from photomend.video import segments

    plan = segments.load_plan(Path(item.output).parent)
    if plan is None:
        raise InputError(f"the segment plan of {item.input} is missing from "
                         f"{Path(item.output).parent}; run the job again")
    step = video_step(steps)
    options, _ = split_options(step)
    cache_key = repr((step.op, sorted(options.items())))
    if cache_key not in _OPS:  # built once per worker: the model checks run once
        _OPS[cache_key] = segments.range_op(step.op, **options)
    return segments.run_segment(plan, int(item.segment), _OPS[cache_key])


def _video_rows(job: JobSpec) -> list[tuple[str, Path, str]]:
    """(key, path, output sub-folder) of every input video, sorted by key."""
    from photomend.video.reader import VIDEO_SUFFIXES

    if job.manifest is not None:
        rows = [(r["key"], Path(r["path"]), "") for r in _manifest_rows(job.manifest)]
        return sorted(rows)
    folder = job.input_dir
    assert folder is not None
    if not folder.is_dir():
        raise InputError(f"input folder {folder} does not exist or is not a folder")
    if job.output_dir.resolve() == folder.resolve():
        raise InputError(f"the output folder is the input folder {folder}; give the output a "
                         "folder of its own")
    out = job.output_dir.resolve()
    rows = []
    for path in folder.glob("**/*" if job.recursive else "*"):
        rel = path.relative_to(folder)
        if (path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES
                and not any(p.startswith(".") for p in rel.parts)
                and out not in path.resolve().parents):
            sub = rel.parent.as_posix() if rel.parent != Path(".") else ""
            rows.append((rel.as_posix(), path, sub))
    return sorted(rows)


__all__ = ["PATH_OPTIONS", "SEGMENT_OPTIONS", "resolve_paths", "with_job_masks", "VideoTask", "join_ready", "run_segment_item", "settle_joined",
           "video_items", "video_step"]
