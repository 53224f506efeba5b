"""Jobs: a bounded queue in front of a pool of workers, results kept in memory for a while.

Each worker *slot* is a thread of the server that takes the next job from the queue and runs it,
either in its own worker process (``executor='process'``, the default) or in the thread itself
(``'thread'``). Processes were chosen because the PatchMatch kernels (numba) hold the GIL, so
threads would serialise them; a process also isolates the server from a job that crashes or
exhausts memory, gives its memory back to the system when a worker restarts, and can be killed
to cancel a job that does not call back or to enforce ``job_timeout_s``. The parent keeps only
the encoded upload while a job waits, and the encoded result afterwards.
"""

from __future__ import annotations

import multiprocessing
import queue
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from photomend.server.ops import Outputs
from photomend.server.problems import ApiError, classify
from photomend.server.settings import Settings
from photomend.server.worker import Cancelled, execute, process_main, throttled

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
#: Seconds a worker gets to notice a cancel before it is killed and restarted.
CANCEL_GRACE_S = 2.0
#: Seconds a new worker process may take to import the library.
STARTUP_TIMEOUT_S = 120.0


@dataclass(eq=False)
class Job:
    """One submitted request. Mutated only under :attr:`JobManager.lock`."""

    id: str
    op: str
    files: dict[str, bytes] | None
    options: dict
    created: float = field(default_factory=time.time)
    state: str = QUEUED
    stage: str | None = None
    done: int = 0
    total: int = 0
    started: float | None = None
    finished: float | None = None
    outputs: Outputs | None = None
    error: ApiError | None = None
    cancel_requested: bool = False
    version: int = 0
    finished_event: threading.Event = field(default_factory=threading.Event)

    @property
    def result_bytes(self) -> int:
        return sum(len(v[0]) for v in (self.outputs or {}).values())


class QueueFull(ApiError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(503, "queue_full", "the server is busy: every worker is taken and the "
                         f"queue is full; retry in {retry_after} s",
                         {"Retry-After": str(retry_after)})


class JobManager:
    """Accepts jobs (:meth:`submit`), runs them on ``settings.workers`` slots, keeps results."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self.finished: OrderedDict[str, Job] = OrderedDict()
        self.pending: queue.Queue[Job | None] = queue.Queue(maxsize=settings.queue_size)
        self.slots: list[_Slot] = []
        self.counts = {DONE: 0, FAILED: 0, CANCELLED: 0}
        self.durations: list[float] = []

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        make = _ProcessRunner if self.settings.executor == "process" else _ThreadRunner
        self.slots = [_Slot(self, make(), n) for n in range(self.settings.workers)]
        for slot in self.slots:
            slot.start()

    def stop(self) -> None:
        with self.lock:
            for job in self.jobs.values():
                if job.state in (QUEUED, RUNNING):
                    job.cancel_requested = True
        for _ in self.slots:
            try:
                self.pending.put_nowait(None)
            except queue.Full:
                pass
        for slot in self.slots:
            slot.join(timeout=CANCEL_GRACE_S + 1)
            slot.runner.close()

    # --- the API ------------------------------------------------------------------------------

    def submit(self, op: str, files: dict[str, bytes], options: dict) -> Job:
        """Queue a job, or raise :class:`QueueFull` (503 + Retry-After)."""
        job = Job(id=secrets.token_urlsafe(18), op=op, files=files, options=options)
        with self.lock:
            self._expire()
            try:
                self.pending.put_nowait(job)
            except queue.Full:
                raise QueueFull(self.retry_after()) from None
            self.jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            self._expire()
            return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Ask a job to stop; a queued job is cancelled at once, a finished one is forgotten."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            if job.state == QUEUED:
                job.cancel_requested = True
                self._finish(job, CANCELLED)
            elif job.state == RUNNING:
                job.cancel_requested = True
                job.version += 1
            else:
                self._forget(job)
            return job

    def stats(self) -> dict:
        with self.lock:
            running = sum(1 for j in self.jobs.values() if j.state == RUNNING)
            return {
                "queued": self.pending.qsize(), "running": running,
                "workers": len(self.slots),
                "workers_alive": sum(1 for s in self.slots if s.is_alive()),
                "completed": self.counts[DONE], "failed": self.counts[FAILED],
                "cancelled": self.counts[CANCELLED], "kept_results": len(self.finished),
            }

    # --- used by the slots (under self.lock) --------------------------------------------------

    def _finish(self, job: Job, state: str, outputs: Outputs | None = None,
                error: ApiError | None = None) -> None:
        job.state, job.outputs, job.error, job.files = state, outputs, error, None
        job.finished = time.time()
        job.version += 1
        self.counts[state] += 1
        if state == DONE and job.started is not None:
            self.durations = (self.durations + [job.finished - job.started])[-50:]
        self.finished[job.id] = job
        job.finished_event.set()
        self._expire()

    def _forget(self, job: Job) -> None:
        self.jobs.pop(job.id, None)
        self.finished.pop(job.id, None)

    def _expire(self) -> None:
        now = time.time()
        kept = sum(j.result_bytes for j in self.finished.values())
        while self.finished:
            oldest = next(iter(self.finished.values()))
            if now - oldest.finished <= self.settings.result_ttl_s and \
                    kept <= self.settings.max_kept_bytes:
                break
            kept -= oldest.result_bytes
            self._forget(oldest)

    def is_full(self) -> bool:
        """True when a new job would be refused (check before decoding an upload)."""
        return self.pending.full()

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: recent job times x jobs waiting / workers."""
        per_job = sum(self.durations) / len(self.durations) if self.durations else 2.0
        waiting = self.pending.qsize() + 1
        return max(1, min(120, round(per_job * waiting / max(1, len(self.slots)))))


class _Slot(threading.Thread):
    """Takes jobs from the queue, one at a time, and runs them on its runner."""

    def __init__(self, manager: JobManager, runner, number: int) -> None:
        super().__init__(name=f"photomend-worker-{number}", daemon=True)
        self.manager, self.runner = manager, runner

    def run(self) -> None:
        m = self.manager
        self.runner.warm()
        while True:
            job = m.pending.get()
            if job is None:
                return
            with m.lock:
                if job.state != QUEUED:
                    continue  # cancelled while it waited
                job.state, job.started = RUNNING, time.time()
                job.version += 1
                files, options = job.files, job.options

            def on_progress(stage: str, done: int, total: int, job: Job = job) -> None:
                with m.lock:
                    job.stage, job.done, job.total = stage, done, total
                    job.version += 1

            try:
                outputs = self.runner.run(job, files, options, m.settings, on_progress,
                                          lambda job=job: job.cancel_requested)
                if m.settings.results_dir is not None:
                    _save(Path(m.settings.results_dir), job.id, outputs)
                state, error = DONE, None
            except Cancelled:
                state, outputs, error = CANCELLED, None, None
            except ApiError as exc:
                state, outputs, error = FAILED, None, exc
            except Exception as exc:  # noqa: BLE001  (a slot must survive anything)
                state, outputs, error = FAILED, None, ApiError(500, "internal", str(exc))
            del files
            with m.lock:
                if job.state == RUNNING:
                    m._finish(job, state, outputs, error)


def _save(folder: Path, job_id: str, outputs: Outputs) -> None:
    """Write each output as ``<job id>[_<name>]<suffix>`` (the id is URL-safe base64)."""
    for name, (data, _media, suffix) in outputs.items():
        dest = folder / f"{job_id}{'' if name == 'image' else '_' + name}{suffix}"
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(dest)


class _ThreadRunner:
    """Runs jobs in the slot's own thread (no timeout: a thread cannot be killed)."""

    def run(self, job, files, options, settings, on_progress, is_cancelled) -> Outputs:
        progress = throttled(on_progress, is_cancelled)
        try:
            return execute(job.op, files, options, settings.max_pixels, progress)
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001
            raise classify(exc) from None

    def warm(self) -> None:
        pass

    def close(self) -> None:
        pass


class _ProcessRunner:
    """Runs jobs in one worker process, restarted when it dies, hangs or must be stopped."""

    def __init__(self) -> None:
        self.ctx = multiprocessing.get_context("spawn")  # fork + threads is unsafe
        self.process = None
        self.conn = None
        self.ready = False

    def warm(self) -> None:
        """Start the process now, so that the first job does not wait for its imports."""
        self._ensure()

    def _ensure(self) -> None:
        if self.process is not None and self.process.is_alive():
            return
        self.close()
        parent, child = self.ctx.Pipe(duplex=True)
        self.process = self.ctx.Process(target=process_main, args=(child,),
                                        name="photomend-worker", daemon=True)
        self.process.start()
        child.close()
        self.conn, self.ready = parent, False

    def close(self) -> None:
        """Stop the worker process (idempotent; safe while a slot is shutting down)."""
        process, conn = self.process, self.conn
        self.process, self.conn, self.ready = None, None, False
        if process is None:
            return
        try:
            if process.is_alive():
                conn.send(("stop",))
        except (OSError, ValueError):
            pass
        process.join(timeout=1)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
        conn.close()

    def _kill(self) -> None:
        self.process.kill()
        self.close()
        self._ensure()  # the next job should not wait for a fresh worker's imports

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            while not self.ready:
                if self.conn.poll(0.1):
                    self.ready = self.conn.recv()[0] == "ready"
                elif not self.process.is_alive() or time.monotonic() > deadline:
                    raise EOFError
        except (EOFError, OSError):
            self.close()
            raise ApiError(500, "worker_crashed", "the worker process did not start") from None

    def run(self, job, files, options, settings, on_progress, is_cancelled) -> Outputs:
        self._ensure()
        self._wait_ready()  # the job's clock starts once the worker has imported everything
        self.conn.send(("job", job.op, files, options, settings.max_pixels))
        started, cancel_sent = time.monotonic(), None
        while True:
            try:
                ready = self.conn.poll(0.05)
                msg = self.conn.recv() if ready else None
            except (EOFError, OSError):
                self.close()
                raise ApiError(500, "worker_crashed",
                               "the worker process died while running this job") from None
            if msg is not None:
                if msg[0] == "progress":
                    on_progress(*msg[1:])
                elif msg[0] == "done":
                    return msg[1]
                elif msg[0] == "cancelled":
                    raise Cancelled()
                elif msg[0] == "error":
                    raise ApiError(*msg[1:])
                continue
            if not self.process.is_alive():
                self.close()
                raise ApiError(500, "worker_crashed",
                               "the worker process died while running this job")
            now = time.monotonic()
            if is_cancelled():
                if cancel_sent is None:
                    self.conn.send(("cancel",))
                    cancel_sent = now
                elif now - cancel_sent > CANCEL_GRACE_S:
                    self._kill()
                    raise Cancelled()
            if now - started > settings.job_timeout_s:
                self._kill()
                raise ApiError(504, "timeout", f"the job took longer than "
                               f"{settings.job_timeout_s:g} s and was stopped")
