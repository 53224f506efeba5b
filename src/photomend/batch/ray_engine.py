"""The Ray engine: the same job on a Ray cluster (or a local Ray instance).

One actor per worker holds the step chain (models loaded once per actor, not per photo); the
driver keeps at most ``IN_FLIGHT_PER_WORKER`` photos queued per actor, writes the journal
itself, and treats a dead actor like a dead local worker: the photos it held fail with
``kind="crash"``, Ray restarts the actor, and the photos are retried within their budget.

Workers read the inputs and write the outputs by path, so on a multi-node cluster the input,
mask and output folders must be on a file system every node mounts at the same path (see
``docs/batch.md``).
"""

from __future__ import annotations

import os
import re
import resource
import time
from typing import Any

from photomend.batch.job import Item, JobSpec
from photomend.batch.local import crash_result
from photomend.batch.runner import default_workers
from photomend.batch.worker import Pipeline, limit_threads
from photomend.errors import InputError, PhotomendError
from photomend.process_memory import hold_freed_memory


class _BatchActor:
    """Runs in a Ray worker process (its own, one per actor): thread caps and memory policy,
    then the pipeline, once."""

    def __init__(self, steps: Any, max_pixels: int | None, quality: int, threads: int) -> None:
        limit_threads(threads)
        hold_freed_memory()
        self.pipeline = Pipeline(steps, max_pixels=max_pixels, quality=quality)

    def process(self, item: Item) -> dict[str, Any]:
        return self.pipeline.process(item)

    def pid(self) -> int:
        return os.getpid()

    def cpu_seconds(self) -> float:
        """CPU time this actor's process has used (user + system), for benchmarks."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime


def connect(address: str | None, *, workers: int | None) -> Any:
    """``ray.init`` for a job: ``address`` (or ``$RAY_ADDRESS``) joins a cluster; without
    either, a local Ray instance is started with ``workers`` CPUs (default: all cores)."""
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install 'photomend[ray]'") from None
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"log_to_driver": False}
    if address is None:  # a new local instance ("local": not one found running on this
        # machine, which ray.init() would join): only then may its resources be set
        kwargs.update(num_cpus=workers or default_workers(), include_dashboard=False,
                      configure_logging=False)
    try:
        ray.init(address=address or "local", **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise PhotomendError(f"cannot start or reach Ray at {address or 'a local instance'}: "
                             f"{exc}") from None
    return ray


class RayExecutor:
    """``workers`` Ray actors; see :class:`photomend.batch.runner.Executor`."""

    def __init__(self, job: JobSpec, workers: int) -> None:
        ray = self.ray = connect(job.ray_address, workers=job.workers)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        if job.workers is None:
            workers = max(1, min(workers if job.ray_address is None else cpus, cpus))
        self.workers = workers
        threads = max(1, cpus // workers) if job.ray_address is None else 1
        actor_class = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=0)(_BatchActor)
        # Thread caps are set inside each actor (limit_threads), not with a runtime_env: an
        # actor with its own runtime_env cannot use Ray's already started worker processes.
        self.actors = [actor_class.remote(
            job.steps, job.max_pixels, job.quality, threads) for _ in range(workers)]
        try:  # surface a constructor error (e.g. a step not importable on the cluster) now
            ray.get([actor.pid.remote() for actor in self.actors])
        except ray.exceptions.RayActorError as exc:
            self.close()
            raise PhotomendError(f"the Ray workers could not start: {_cause(exc)}") from None
        self.load = [0] * workers
        self.restarting: set[int] = set()  # slots whose actor died and is being restarted
        self.pings: dict[int, Any] = {}
        self.refs: dict[Any, tuple[Item, int]] = {}
        where = job.ray_address or os.environ.get("RAY_ADDRESS") or "local"
        self.description = f"{workers} Ray actor{'s' * (workers != 1)} ({where})"

    def submit(self, item: Item) -> None:
        slot = min(range(self.workers), key=lambda i: (i in self.restarting, self.load[i]))
        if slot in self.restarting:
            self._await_restart(slot)
        self.load[slot] += 1
        self.refs[self.actors[slot].process.remote(item)] = (item, slot)

    def _await_restart(self, slot: int, timeout: float = 120.0) -> None:
        """Wait until Ray has restarted the actor of ``slot`` (calls made meanwhile would fail)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ray.get(self.actors[slot].pid.remote(), timeout=timeout)
                break
            except self.ray.exceptions.RayActorError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.restarting.discard(slot)

    def _check_restarts(self) -> None:
        for slot in list(self.restarting):
            ref = self.pings.get(slot)
            if ref is None:
                self.pings[slot] = self.actors[slot].pid.remote()
                continue
            ready, _ = self.ray.wait([ref], timeout=0)
            if ready:
                del self.pings[slot]
                try:
                    self.ray.get(ref)
                    self.restarting.discard(slot)
                except self.ray.exceptions.RayActorError:
                    pass  # not back yet: ping again next time

    def in_flight(self) -> int:
        return len(self.refs)

    def wait(self, timeout: float) -> list[tuple[Item, dict[str, Any]]]:
        self._check_restarts()
        if not self.refs:
            return []
        ready, _ = self.ray.wait(list(self.refs), num_returns=1, timeout=timeout)
        if ready:  # collect everything else already finished too
            more, _ = self.ray.wait([r for r in self.refs if r not in ready],
                                    num_returns=len(self.refs) - len(ready), timeout=0)
            ready += more
        results = []
        for ref in ready:
            item, slot = self.refs.pop(ref)
            self.load[slot] -= 1
            try:
                results.append((item, self.ray.get(ref)))
            except self.ray.exceptions.TaskCancelledError:
                continue
            except (self.ray.exceptions.RayActorError, self.ray.exceptions.WorkerCrashedError):
                self.restarting.add(slot)
                results.append((item, crash_result(item, "the Ray worker died (killed, node "
                                                   "lost, or out of memory) during this photo")))
            except self.ray.exceptions.RayError as exc:
                results.append((item, crash_result(item, f"Ray: {' '.join(str(exc).split())}"
                                                   [:300])))
        return results

    def cancel_queued(self) -> list[Item]:
        # Photos already handed to an actor finish (their results are recorded); Ray cannot
        # tell queued from running actor calls, so nothing is cancelled here.
        return []

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001, S110
                pass
        self.actors = []


def _cause(exc: BaseException) -> str:
    """The last error line of a Ray exception (its text holds the remote traceback)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    lines = [line.strip() for line in text.splitlines() if "Error" in line]
    return (lines[-1] if lines else " ".join(text.split()))[:300]
