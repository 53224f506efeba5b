"""What runs inside a worker (a local process or a Ray actor): the step chain, prepared once
per worker, applied to one item at a time.

A worker reads the photo with :func:`photomend.io.read_image`, runs the steps, writes the result
with :func:`photomend.io.write_image` (atomic: a temporary file renamed into place, never over an
existing file or an input) and returns a plain ``dict`` for the driver's journal. Errors of one
item are caught and returned, never raised: the job goes on.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from photomend.batch.job import Item, Step
from photomend.batch.operations import Operation, check_options, resolve
from photomend.errors import InputError, OutputError
from photomend.io import LoadedImage, check_destination, read_image, write_image
from photomend.process_memory import hold_freed_memory
from photomend.zoo import sha256_of

#: Thread-count variables of the numeric libraries (OpenMP/BLAS/numba/...) and of photomend's
#: ONNX Runtime sessions (``PHOTOMEND_THREADS``, see photomend.nn.onnx), set per worker.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                   "PHOTOMEND_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps every numeric library of a worker at ``threads`` threads."""
    return {name: str(max(1, int(threads))) for name in THREAD_ENV_VARS}


def limit_threads(threads: int) -> None:
    """Cap this process's thread pools (env for libraries not loaded yet, APIs for loaded ones)."""
    threads = max(1, int(threads))
    os.environ.update(thread_env(threads))
    import cv2

    cv2.setNumThreads(threads)
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except (ImportError, ValueError):
        pass
    try:  # BLAS pools already loaded by numpy ignore the env; threadpoolctl reaches them
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:
        pass


class Pipeline:
    """The job's steps, resolved and warmed up once (models load here, not per photo)."""

    def __init__(self, steps: Sequence[Step], *, max_pixels: int | None = None,
                 quality: int = 95, warm_up: bool = True) -> None:
        self.raw_steps = tuple(steps)
        self.steps: list[tuple[Operation, dict[str, Any]]] = []
        for step in steps:
            op = resolve(step.op)
            check_options(op, step.options)
            self.steps.append((op, dict(step.options)))
        self.max_pixels, self.quality = max_pixels, int(quality)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        if warm_up:
            self.warm_up()

    def warm_up(self) -> None:
        """Run the built-in steps once on a small synthetic photo: loads models and compiled
        kernels now, so the first real photo is not slower than the rest. Errors are ignored
        (the real photos will report them)."""
        if any(op.name not in ("remove", "restore", "colorize", "upscale") for op, _ in self.steps):
            return
        rng = np.random.default_rng(0)
        image = LoadedImage(rng.random((96, 128, 3), dtype=np.float32))
        hole = np.zeros((96, 128), np.uint8)
        hole[40:56, 50:70] = 255
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for op, options in self.steps:
                    mask = hole if op.needs_mask else None
                    opts = dict(options, resize_mask=True) if op.needs_mask else dict(options)
                    image = op.apply(image, mask=mask, hints=None, max_pixels=None, **opts)
                    hole = np.zeros(image.rgb.shape[:2], np.uint8)
                    hole[image.rgb.shape[0] // 3:image.rgb.shape[0] // 2, 10:30] = 255
        except Exception:  # noqa: BLE001, S110  (a warm-up is an optimisation, never a failure)
            pass

    def process(self, item: Item) -> dict[str, Any]:
        """Run the steps on one item and write its output. Never raises for the item's own
        problems: they come back as ``status="failed"`` with ``kind`` input/output/unexpected."""
        started = time.perf_counter()
        result: dict[str, Any] = {"key": item.key, "output": item.output, "status": "failed",
                                  "error": None, "kind": None, "checksum": None, "notes": [],
                                  "worker": self.worker}
        out = Path(item.output)
        if item.segment is not None:
            return self._segment(item, result, started)
        try:
            if item.problem:
                raise InputError(item.problem)
            if item.adopt and out.exists():
                return self._adopt(out, result, started)
            out.parent.mkdir(parents=True, exist_ok=True)
            protect = [p for p in (item.input, item.mask, item.hints) if p]
            check_destination(out, overwrite=False, protect=protect)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                image = read_image(item.input, max_pixels=self.max_pixels)
                for op, options in self.steps:
                    image = op.apply(image, mask=item.mask, hints=item.hints,
                                     max_pixels=self.max_pixels, **options)
                write_image(image, out, quality=self.quality, overwrite=False, protect=protect)
            result["notes"] = sorted({str(w.message) for w in caught
                                      if issubclass(w.category, UserWarning)})
            result.update(status="done", checksum=sha256_of(out))
        except OutputError as exc:
            if item.adopt and out.exists():  # the interrupted run's worker finished meanwhile
                return self._adopt(out, result, started)
            # a file that is not this job's is in the way: retrying would not help
            result.update(kind="conflict" if out.exists() else "output", error=_one_line(exc))
        except InputError as exc:
            result.update(kind="input", error=_one_line(exc))
        except OSError as exc:  # e.g. the output folder cannot be created (disk full, read-only)
            result.update(kind="output", error=_one_line(exc))
        except Exception as exc:  # noqa: BLE001  (one broken photo never stops the job)
            result.update(kind="unexpected", error=f"{type(exc).__name__}: {_one_line(exc)}")
        result["seconds"] = time.perf_counter() - started
        return result

    def _segment(self, item: Item, result: dict[str, Any], started: float) -> dict[str, Any]:
        """One segment of a video (an interrupted run's finished segment file is kept)."""
        from photomend.batch.video import run_segment_item

        try:
            kept = Path(item.output).is_file()  # written (atomically) before a kill
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                part = run_segment_item(item, self.raw_steps)
            notes = {str(w.message) for w in caught if issubclass(w.category, UserWarning)}
            if kept:
                notes.add("segment of an interrupted run, kept")
            result.update(status="done", checksum=sha256_of(part), kept=kept,
                          notes=sorted(notes))
        except (InputError, OutputError, OSError) as exc:
            kind = "input" if isinstance(exc, InputError) else "output"
            result.update(kind=kind, error=_one_line(exc))
        except Exception as exc:  # noqa: BLE001  (one broken segment never stops the job)
            result.update(kind="unexpected", error=f"{type(exc).__name__}: {_one_line(exc)}")
        result["seconds"] = time.perf_counter() - started
        return result

    def _adopt(self, out: Path, result: dict[str, Any], started: float) -> dict[str, Any]:
        """Take over an output an interrupted run wrote (atomically, so it is whole) if it decodes."""
        from PIL import Image

        try:
            with Image.open(out) as im:
                im.load()
        except Exception as exc:  # noqa: BLE001
            result.update(kind="output", error=f"{out} exists but is unreadable ({exc}); "
                          "delete it to redo this photo")
        else:
            result.update(status="done", checksum=sha256_of(out), kept=True,
                          notes=["output of an interrupted run, verified and kept"])
        result["seconds"] = time.perf_counter() - started
        return result


# ---------------------------------------------------------------------------------------------
# Local process pool entry points (module-level so that they pickle)
# ---------------------------------------------------------------------------------------------

_PIPELINE: Pipeline | None = None
_INIT_ERROR: str | None = None


def init_worker(steps: Sequence[Step], max_pixels: int | None, quality: int,
                threads: int) -> None:
    """ProcessPoolExecutor initializer: thread caps and memory policy, then the pipeline (models)
    once."""
    global _PIPELINE, _INIT_ERROR
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides how a Ctrl-C ends the job
    _exit_with_parent()
    limit_threads(threads)
    hold_freed_memory()
    try:
        _PIPELINE = Pipeline(steps, max_pixels=max_pixels, quality=quality)
    except Exception as exc:  # noqa: BLE001  (reported with each photo, not as a dead pool)
        _INIT_ERROR = f"the worker could not start: {type(exc).__name__}: {_one_line(exc)}"


def _exit_with_parent() -> None:
    """A pool worker whose driver was killed (SIGKILL) would wait for work forever: leave.
    A photo half done is simply not written (the write is atomic); the next run redoes it."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="photomend-parent-watch", daemon=True).start()


def run_item(item: Item) -> dict[str, Any]:
    """Process one item in a pool worker prepared by :func:`init_worker`."""
    if _PIPELINE is None:
        return {"key": item.key, "output": item.output, "status": "failed", "kind": "unexpected",
                "error": _INIT_ERROR or "init_worker did not run", "checksum": None,
                "notes": [], "seconds": 0.0}
    return _PIPELINE.process(item)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
