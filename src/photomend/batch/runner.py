"""The batch driver: plan against the journal, dispatch to workers (local processes or Ray
actors), record every result, summarise.

The driver is the only writer of the journal; workers only read inputs and write outputs.
Resuming is running the same job again: done items whose output still has the recorded
checksum are skipped, interrupted ones are finished (or their already written output kept),
failed ones are retried while their retry budget lasts.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from photomend.batch.job import Item, JobSpec, list_items
from photomend.batch.journal import Journal
from photomend.batch.operations import check_options, resolve
from photomend.batch.video import (join_ready, settle_joined, video_items, video_step,
                                   with_job_masks)
from photomend.batch.worker import thread_env
from photomend.errors import OutputError
from photomend.zoo import sha256_of

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Results the driver waits for at most per worker (bounded in-flight work).
IN_FLIGHT_PER_WORKER = 2
_TMP_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.tmp$")  # photomend.io's temporary files


class Executor(Protocol):
    """What the driver needs from an engine (see LocalExecutor, ray_engine.RayExecutor)."""

    workers: int
    description: str

    def submit(self, item: Item) -> None: ...
    def wait(self, timeout: float) -> list[tuple[Item, dict[str, Any]]]: ...
    def in_flight(self) -> int: ...
    def cancel_queued(self) -> list[Item]: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


@dataclass
class Summary:
    """What a run did. ``failed`` holds (key, reason) for every item not done at the end."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    kept: int = 0  # outputs of an interrupted run, verified and kept
    failed: list[tuple[str, str]] = field(default_factory=list)
    unexpected: bool = False
    interrupted: bool = False
    seconds: float = 0.0
    engine: str = ""
    journal: str = ""
    unit: str = "photo"  # what an item is: "segment" in a video job

    @property
    def photos_per_minute(self) -> float:
        return 60.0 * self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.failed:
            return EXIT_FAILURE if self.unexpected else EXIT_USAGE
        return EXIT_OK

    def lines(self, *, max_failures: int = 20) -> list[str]:
        head = (f"batch: {self.done} done, {self.skipped} skipped (done before), "
                f"{len(self.failed)} failed, of {self.total}, in {self.seconds:.1f} s "
                f"({self.photos_per_minute:.1f} {self.unit}s/min, {self.engine})")
        out = [head + (" -- interrupted, run again to resume" if self.interrupted else "")]
        if self.kept:
            out.append(f"  {self.kept} output(s) of an interrupted run verified and kept")
        for key, reason in self.failed[:max_failures]:
            out.append(f"  failed: {key}: {reason}")
        if len(self.failed) > max_failures:
            out.append(f"  ... and {len(self.failed) - max_failures} more (see the journal)")
        out.append(f"  journal: {self.journal}")
        return out


def default_workers() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def run_job(
    job: JobSpec,
    *,
    reset_failed: bool = False,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    executor_factory: Callable[[JobSpec, int], Executor] | None = None,
) -> Summary:
    """Run (or resume) ``job`` and return its :class:`Summary`.

    ``progress``: draw a progress bar (None: when stderr is a terminal). ``log`` receives
    progress lines when there is no bar. Raises InputError/OutputError only for problems of
    the job as a whole (bad steps, missing input folder, unwritable output folder, a locked
    journal); problems of single photos are in the summary.
    """
    started = time.perf_counter()
    job = with_job_masks(job)  # remove_video without masks of its own: the job's masks folder
    ops = [resolve(step.op) for step in job.steps]
    for op, step in zip(ops, job.steps):
        check_options(op, step.options)
    video = video_step(job.steps)
    if video is None:
        items, videos = list_items(job, needs_mask=any(op.needs_mask for op in ops),
                                   wants_hints=any(op.uses_hints for op in ops)), []
    else:  # each video's segments are the items; the driver joins them (batch.video)
        items, videos = video_items(job, video)
    try:
        job.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {job.output_dir}: "
                          f"{exc.strerror or exc}") from None
    summary = Summary(total=len(items), journal=str(job.journal_path),
                      unit="photo" if video is None else "segment")
    with Journal(job.journal_path, fingerprint=job.fingerprint()) as journal:
        journal.add((it.key, it.input, it.output) for it in items)
        _remove_stale_temporaries(items)
        settle_joined(videos, journal, summary)
        todo = _plan(job, items, journal, summary, reset_failed=reset_failed)
        workers = min(job.workers or default_workers(), max(1, len(todo)))
        if todo:
            factory = executor_factory or _executor_for(job.engine)
            with _thread_caps(workers), _graceful_sigint() as stop:
                executor = factory(job, workers)
                summary.engine = executor.description
                try:
                    _dispatch(todo, executor, journal, summary, job.retries, stop,
                              progress=progress, log=log)
                except BaseException:  # a second Ctrl-C, or a bug: don't wait for the photos
                    executor.abort()
                    raise
                executor.close()
        else:
            summary.engine = f"{job.engine}, nothing to do"
        join_ready(videos, summary, log)
    summary.seconds = time.perf_counter() - started
    return summary


def _plan(job: JobSpec, items: list[Item], journal: Journal, summary: Summary, *,
          reset_failed: bool) -> deque[Item]:
    """Decide, per item, skip / run / adopt / give up."""
    records, todo = journal.records(), deque()
    for item in items:
        rec = records[item.key]
        if rec.status == "done":
            if not Path(item.output).is_file():
                journal.reset(item.key)  # the output was deleted: do it again
                todo.append(item)
            elif sha256_of(item.output) != rec.checksum:
                summary.failed.append((item.key, (f"{item.output} changed since this job "
                                       "wrote it (checksum differs); delete it to redo it")))
            else:
                summary.skipped += 1
        elif item.problem:  # known without running (e.g. no mask yet): checked every run
            journal.started(item.key)
            journal.finished({"key": item.key, "status": "failed", "error": item.problem,
                              "kind": "input", "seconds": 0.0})
            summary.failed.append((item.key, item.problem))
        elif rec.status == "failed" and rec.failures > job.retries and not reset_failed:
            summary.failed.append((item.key, (f"{rec.error} (gave up after {rec.failures} "
                                   "failed attempts; --reset-failed tries again)")))
            summary.unexpected |= rec.kind in ("unexpected", "crash")
        else:
            if rec.status == "failed" and reset_failed:
                journal.reset(item.key, failures=True)
            # 'running': an earlier driver died while it was out; a crash may have come after
            # the (atomic) write. Either way an existing output there is that attempt's work.
            adopt = rec.status == "running" or (rec.status == "failed" and rec.kind == "crash")
            todo.append(replace(item, adopt=adopt))
    return todo


def _dispatch(todo: deque[Item], executor: Executor, journal: Journal, summary: Summary,
              retries: int, stop: threading.Event, *, progress: bool | None,
              log: Callable[[str], None] | None) -> None:
    bar = _Progress(len(todo), enabled=progress, log=log)
    capacity = executor.workers * IN_FLIGHT_PER_WORKER
    try:
        while todo or executor.in_flight():
            if stop.is_set():
                for item in executor.cancel_queued():
                    journal.reset(item.key)
                todo.clear()
                summary.interrupted = True
            while todo and executor.in_flight() < capacity:
                item = todo.popleft()
                journal.started(item.key)
                executor.submit(item)
            for item, result in executor.wait(timeout=0.5):
                journal.finished(result)
                if result["status"] == "done":
                    summary.done += 1
                    summary.kept += bool(result.get("kept"))
                    bar.update(failed=False)
                    continue
                failures = journal.failures(item.key)
                transient = result.get("kind") not in ("input", "conflict")
                if transient and failures <= retries and not stop.is_set():
                    todo.append(replace(item, adopt=result.get("kind") == "crash"))
                    continue
                summary.failed.append((item.key, result["error"]))
                summary.unexpected |= result.get("kind") in ("unexpected", "crash")
                bar.update(failed=True)
    finally:
        bar.close()


def _executor_for(engine: str) -> Callable[[JobSpec, int], Executor]:
    if engine == "ray":
        from photomend.batch.ray_engine import RayExecutor

        return RayExecutor
    from photomend.batch.local import LocalExecutor

    return LocalExecutor


def _remove_stale_temporaries(items: list[Item]) -> None:
    """Delete temporary files a killed worker left next to this job's outputs (never a real
    output: only names of photomend.io's ``.NAME.XXXXXXXX.tmp`` pattern for NAME of an item)."""
    by_folder: dict[Path, set[str]] = {}
    for item in items:
        out = Path(item.output)
        by_folder.setdefault(out.parent, set()).add(out.name)
    for folder, names in by_folder.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _TMP_NAME.match(entry.name)
            if match and match["name"] in names and entry.is_file(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass


@contextmanager
def _thread_caps(workers: int) -> Iterator[None]:
    """Worker processes start with their numeric libraries capped at cores // workers threads
    (the environment is inherited at start; restored for the driver afterwards)."""
    caps = thread_env(max(1, default_workers() // max(1, workers)))
    saved = {name: os.environ.get(name) for name in caps}
    os.environ.update(caps)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _graceful_sigint() -> Iterator[threading.Event]:
    """First Ctrl-C: stop dispatching, finish and record what is running. Second: abort."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("photomend: note: stopping after the photos in progress (Ctrl-C again to abort)",
              file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


class _Progress:
    """A tqdm bar (rate and ETA) on a terminal; otherwise a line every 30 s through ``log``."""

    def __init__(self, total: int, *, enabled: bool | None,
                 log: Callable[[str], None] | None) -> None:
        self.total, self.done, self.failed, self.log = total, 0, 0, log
        self.started = self.last = time.perf_counter()
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="photo", file=sys.stderr, smoothing=0.1,
                            dynamic_ncols=True)

    def update(self, *, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        if self.bar is not None:
            self.bar.update(1)
            if self.failed:
                self.bar.set_postfix(failed=self.failed, refresh=False)
            return
        now = time.perf_counter()
        if self.log is not None and now - self.last >= 30 and self.done < self.total:
            self.last = now
            rate = self.done / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            self.log(f"batch: {self.done}/{self.total} ({self.failed} failed), "
                     f"{60 * rate:.1f} photos/min, ETA {eta / 60:.1f} min")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
