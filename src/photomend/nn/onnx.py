"""ONNX Runtime sessions for photomend's networks: one cached session per file, CPU, NCHW float32.

Every learned model (our compact upscalers, converted published weights, restore and colorize
networks) runs through :func:`session` and :func:`run`, so thread settings live in one place.
Threads: ``$PHOTOMEND_THREADS`` if set, else the number of CPUs this process may use (at most 8);
ops run one at a time (``inter_op_num_threads=1``), each op spread over those threads.

>>> import numpy as np
>>> from photomend.nn import onnx as nn_onnx
>>> callable(nn_onnx.run)
True
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from photomend.errors import ModelError

_CACHE: dict[tuple[str, int, int, int], object] = {}
_LOCK = threading.Lock()


def num_threads() -> int:
    """Intra-op threads for ONNX Runtime: ``$PHOTOMEND_THREADS`` or the usable CPUs (<= 8)."""
    env = os.environ.get("PHOTOMEND_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:  # a dependency in pyproject; only a broken install lacks it
        raise ModelError("onnxruntime is not installed: pip install onnxruntime") from exc
    return onnxruntime


def session(path: str | Path, *, threads: int | None = None):
    """The ``onnxruntime.InferenceSession`` of ``path``, created once per file (and per
    modification time, so a reinstalled model is reloaded) and then reused.

    Raises ModelError when the file is missing or not a valid ONNX model.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelError(f"model file {path} cannot be read: {exc.strerror}") from None
    threads = int(threads or num_threads())
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, threads)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        ort = _ort()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{path} is not a usable ONNX model: {exc}") from None
        _CACHE[key] = sess
        return sess


def run(sess, x: np.ndarray, *, release: bool = False) -> np.ndarray:
    """Run a one-input, one-output network on ``x`` (NCHW float32); its first output.

    ``release``: give the memory ONNX Runtime keeps for the next run (its arena: the network's
    activations, 0.3 GB for a restore detector tile) back once this run ends; for the last
    run of a series, when other big work follows.
    """
    name = sess.get_inputs()[0].name
    options = None
    if release:
        options = _ort().RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return sess.run(None, {name: np.ascontiguousarray(x, np.float32)}, options)[0]


def run_image(sess, rgb: np.ndarray) -> np.ndarray:
    """HxWxC float32 in, HxWxC float32 out: :func:`run` on a batch of one, NCHW in between."""
    x = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], np.float32)
    y = run(sess, x)
    return np.ascontiguousarray(y[0].transpose(1, 2, 0))


def prewarm(*paths: str | Path, side: int = 64) -> threading.Thread:
    """Create the sessions of ``paths`` and run each once on a small zero input, in a
    background thread: a fresh process pays ONNX Runtime's import, the session set-up and the
    first run's allocations while it decodes the photo, not after. ``join()`` is optional;
    errors are left to the real call. Inputs with a fixed size keep it; free ones get ``side``.

    >>> prewarm().join()  # (no paths: nothing to do)
    """

    def warm() -> None:
        for path in paths:
            try:
                sess = session(path)
                shape = sess.get_inputs()[0].shape
                dims = [d if isinstance(d, int) else (1 if i == 0 else side)
                        for i, d in enumerate(shape)]
                run(sess, np.zeros(dims, np.float32))
            except Exception:  # noqa: BLE001, S112  (an optimisation, never a failure)
                continue

    thread = threading.Thread(target=warm, name="prewarm-onnx")
    thread.start()
    return thread


def metadata_float(path: str | Path, key: str, default: float | None) -> float | None:
    """``key`` of the model's ONNX metadata (``custom_metadata_map``) as a number; ``default``
    when it is missing or not a number (a calibration may write "none")."""
    meta = session(path).get_modelmeta().custom_metadata_map
    try:
        return default if meta.get(key) is None else float(meta[key])
    except ValueError:
        return default


def clear_cache() -> None:
    """Forget every cached session (tests; freeing memory)."""
    with _LOCK:
        _CACHE.clear()
