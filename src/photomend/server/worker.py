"""Running one job: in a worker process (the default) or in a thread of the server.

A worker process owns one end of a pipe. Once its imports are done it says ``("ready",)``;
then it receives ``("job", op, files, options,
max_pixels)``, answers with ``("progress", stage, done, total)`` messages (at most ten a
second), then one of ``("done", outputs)``, ``("error", status, code, message)`` or
``("cancelled",)``. A ``("cancel",)`` message is noticed inside the library's progress callback,
which raises :class:`Cancelled`; a job that does not call back is stopped by the server killing
and restarting the process (see :mod:`photomend.server.jobs`).
"""

from __future__ import annotations

import signal
import time
import warnings
from collections.abc import Callable

from photomend.process_memory import hold_freed_memory
from photomend.server.ops import Outputs, operations
from photomend.server.problems import classify

#: Seconds between two progress messages of the same stage.
PROGRESS_INTERVAL = 0.1


class Cancelled(Exception):
    """Raised inside a job when its client cancelled it."""


def execute(op_name: str, files: dict[str, bytes], options: dict, max_pixels: int,
            progress: Callable[[str, int, int], None]) -> Outputs:
    """Run one operation (validating its options again: the worker trusts nothing)."""
    op = operations()[op_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "JPEG has no alpha": the client chose the format
        return op.run(files, op.options.model_validate(options), max_pixels, progress)


def throttled(send: Callable[[str, int, int], None],
              check_cancel: Callable[[], bool]) -> Callable[[str, int, int], None]:
    """A progress callback: forwards at most every PROGRESS_INTERVAL s (stage changes and the
    last step always), and raises Cancelled once ``check_cancel()`` is true."""
    state = {"stage": None, "at": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != state["stage"] or done >= total or now - state["at"] >= PROGRESS_INTERVAL:
            if check_cancel():
                raise Cancelled()
            state["stage"], state["at"] = stage, now
            send(stage, int(done), int(total))

    return progress


def process_main(conn) -> None:
    """Entry point of a worker process: serve jobs from ``conn`` until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    hold_freed_memory()
    operations()  # import the library before the first job
    conn.send(("ready",))
    cancelled = False

    def check_cancel() -> bool:
        nonlocal cancelled
        while not cancelled and conn.poll():
            cancelled = conn.recv()[0] == "cancel"
        return cancelled

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg[0] == "stop":
            return
        if msg[0] != "job":
            continue  # a "cancel" that arrived after its job had finished
        _, op_name, files, options, max_pixels = msg
        cancelled = False
        progress = throttled(lambda *a: conn.send(("progress", *a)), check_cancel)
        try:
            outputs = execute(op_name, files, options, max_pixels, progress)
            answer = ("done", outputs)
        except Cancelled:
            answer = ("cancelled",)
        except BaseException as exc:  # noqa: BLE001  (report everything; the server decides)
            err = classify(exc)
            answer = ("error", err.status, err.code, err.message)
        del files, msg
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return
