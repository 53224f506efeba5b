"""The local engine: a pool of worker processes on this machine.

Workers are started with ``spawn`` (no inherited locks, sockets or journal handles), capped at
``cores // workers`` threads each, and load the step chain (models) once. A worker that dies
(killed, out of memory) fails only the photos it held; the pool is started again.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from photomend.batch.job import Item, JobSpec
from photomend.batch.runner import default_workers
from photomend.batch.worker import Pipeline, init_worker, run_item


class LocalExecutor:
    """``workers`` processes; see :class:`photomend.batch.runner.Executor`."""

    def __init__(self, job: JobSpec, workers: int) -> None:
        self.job, self.workers = job, workers
        self.threads = max(1, default_workers() // workers)
        self.description = f"{workers} local worker{'s' * (workers != 1)}"
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future, Item] = {}

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
                initargs=(self.job.steps, self.job.max_pixels, self.job.quality, self.threads))
        return self._pool

    def submit(self, item: Item) -> None:
        try:
            future = self._get_pool().submit(run_item, item)
        except BrokenProcessPool:
            self._restart()
            future = self._get_pool().submit(run_item, item)
        self._futures[future] = item

    def in_flight(self) -> int:
        return len(self._futures)

    def wait(self, timeout: float) -> list[tuple[Item, dict[str, Any]]]:
        if not self._futures:
            return []
        done, _ = wait(self._futures, timeout=timeout, return_when=FIRST_COMPLETED)
        results, broken = [], False
        for future in done:
            item = self._futures.pop(future)
            if future.cancelled():
                continue
            try:
                results.append((item, future.result()))
            except BrokenProcessPool:
                broken = True
                results.append((item, crash_result(item, "a worker process died (killed, or out "
                                                   "of memory) while this photo was in work")))
            except Exception as exc:  # noqa: BLE001  (e.g. a result that would not pickle)
                results.append((item, crash_result(item, f"{type(exc).__name__}: {exc}")))
        if broken:
            self._restart()
        return results

    def cancel_queued(self) -> list[Item]:
        cancelled = [item for future, item in list(self._futures.items()) if future.cancel()]
        for future in [f for f in self._futures if f.cancelled()]:
            del self._futures[future]
        return cancelled

    def _restart(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self) -> None:
        """Stop now (a second Ctrl-C): end the workers, photos in work included. Their
        writes are atomic, and the journal shows them as interrupted for the next run."""
        if self._pool is not None:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class InlineExecutor:
    """Runs each photo in the driver process, one at a time (tests, debugging)."""

    def __init__(self, job: JobSpec, workers: int = 1) -> None:
        self.workers, self.description = 1, "inline (driver process)"
        self.pipeline = Pipeline(job.steps, max_pixels=job.max_pixels, quality=job.quality,
                                 warm_up=False)
        self.queue: list[Item] = []

    def submit(self, item: Item) -> None:
        self.queue.append(item)

    def in_flight(self) -> int:
        return len(self.queue)

    def wait(self, timeout: float) -> list[tuple[Item, dict[str, Any]]]:
        if not self.queue:
            return []
        item = self.queue.pop(0)
        return [(item, self.pipeline.process(item))]

    def cancel_queued(self) -> list[Item]:
        cancelled, self.queue = self.queue, []
        return cancelled

    def close(self) -> None:
        self.queue = []

    abort = close


def crash_result(item: Item, error: str) -> dict[str, Any]:
    """The journal entry of a photo whose worker died under it."""
    return {"key": item.key, "output": item.output, "status": "failed", "error": error,
            "kind": "crash", "checksum": None, "notes": [], "seconds": None}
