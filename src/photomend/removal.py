"""Object removal: the library function every front end (CLI, server, batch) calls."""

from __future__ import annotations

import threading

import numpy as np

from photomend.engines import ProgressFn, create_engine, engine_readiness, engine_traits
from photomend.errors import MaskError

#: The engine of the library functions, the server and ``photomend example``, and of
#: ``photomend remove`` when no learned engine is installed (see :func:`default_engine`).
DEFAULT_ENGINE = "patchmatch"
#: The learned engines ``photomend remove`` prefers, best first, when one can run. MI-GAN
#: installed gives ``migan-patchmatch`` (PatchMatch guided by MI-GAN's fill), not ``migan``
#: itself: on the TUNE photos of bench_structure.py, MI-GAN alone lost 0.4 dB of masked PSNR to
#: ``patchmatch`` and painted blobs of foreign colour into busy texture; guided PatchMatch
#: gained 0.4 dB and 0.06 edge F1 (docs/remove.md, session 18).
PREFERRED_ENGINES = ("lama", "migan-patchmatch")
DEFAULT_HD_STRATEGY = "auto"
DEFAULT_WORKING_SIZE = 512


def default_engine() -> tuple[str, str]:
    """The engine ``photomend remove`` uses without ``--engine``, and why: the first of
    :data:`PREFERRED_ENGINES` that is installed and can run, else :data:`DEFAULT_ENGINE`.

    Costs a look at the model cache (no network is loaded).

    >>> name, why = default_engine()
    >>> name in (*PREFERRED_ENGINES, DEFAULT_ENGINE)
    True
    """
    for name in PREFERRED_ENGINES:
        if engine_readiness(name) is None:
            return name, (f"{name} can run, its model installed (preferred: "
                          f"{', '.join(PREFERRED_ENGINES)})")
    return DEFAULT_ENGINE, f"no learned engine is installed ({', '.join(PREFERRED_ENGINES)})"


def remove_array(
    rgb: np.ndarray,
    mask: np.ndarray,
    *,
    engine: str = DEFAULT_ENGINE,
    hd_strategy: str = DEFAULT_HD_STRATEGY,
    working_size: int = DEFAULT_WORKING_SIZE,
    seed: int = 0,
    progress: ProgressFn | None = None,
    in_place: bool = False,
) -> np.ndarray:
    """Fill the pixels of ``rgb`` under ``mask`` and return a new float32 HxWx3 array.

    ``rgb`` is float32 HxWx3 in [0, 1]; ``mask`` is bool HxW, True where content is removed.
    An empty mask returns an unchanged copy; a mask covering everything raises :class:`MaskError`.
    ``in_place=True``: the caller gives ``rgb`` up (a float32 array), and the fill may be
    written into it and returned instead of a new array (the command line does so with the
    photo it decoded: a 4K photo is 100 MB less memory to touch).

    >>> import numpy as np
    >>> img = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    >>> hole = np.zeros((64, 64), bool); hole[20:30, 20:30] = True
    >>> remove_array(img, hole, engine="telea").shape
    (64, 64, 3)
    """
    rgb = np.asarray(rgb)
    mask = np.asarray(mask)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise MaskError(f"expected an HxWx3 RGB array, got shape {rgb.shape}")
    if mask.shape != rgb.shape[:2]:
        raise MaskError(
            f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{rgb.shape[1]}x{rgb.shape[0]} (width x height)"
        )
    mask = mask.astype(bool)
    given = rgb
    rgb = rgb.astype(np.float32, copy=False)
    if not mask.any():
        return rgb if in_place else rgb.copy()
    if mask.all():
        raise MaskError("the mask covers the whole image: there is nothing left to copy from")
    from photomend.hd import run_strategy  # (imported with the first fill, not with photomend)

    eng = create_engine(engine, seed=seed)
    return run_strategy(
        hd_strategy, eng, rgb, mask, working_size=working_size, progress=progress,
        # (a conversion above is this call's own copy, whatever the caller said)
        in_place=in_place or rgb is not given,
    )


_WARMED: set[str] = set()


def prewarm(engine: str = DEFAULT_ENGINE) -> threading.Thread | None:
    """Import ``engine`` and load its compiled kernels in a background thread; None if there
    is nothing to do.

    A fresh process spends about 0.4 s importing numba and 0.4 s loading the kernels from the
    cache on its first ``patchmatch`` fill (see :mod:`photomend.jit`). Started before a photo is decoded (which releases
    the GIL), that time overlaps the decode. ``join()`` the thread before the real fill. It is
    not a daemon thread: a process leaving early (bad input) waits for it at exit, since numba
    aborts the process if the interpreter shuts down under a loading thread. Errors are left
    to the real call to report. Only the first call per engine in a process starts a thread,
    and only for an engine with compiled kernels.

    >>> warm = prewarm("patchmatch")  # a Thread; None once this process has loaded them
    >>> if warm is not None:
    ...     warm.join()
    """
    if engine in _WARMED:
        return None
    traits = engine_traits(engine)  # (no import: the built-in engines' traits are declared)
    if traits is None or not traits.compiled_kernels:
        return None  # (an unknown name: the real call says so)
    _WARMED.add(engine)

    def run() -> None:
        rgb = np.random.default_rng(0).random((96, 128, 3), dtype=np.float32)
        hole = np.zeros((96, 128), bool)
        hole[40:56, 50:74] = True
        try:  # cra at a tiny working size runs the engine's and the aggregation's kernels
            remove_array(rgb, hole, engine=engine, hd_strategy="cra", working_size=64)
            create_engine(engine).load_kernels()  # (those only big photos use)
        except Exception:  # noqa: BLE001, S110  (an optimisation, never a failure)
            pass

    thread = threading.Thread(target=run, name=f"prewarm-{engine}", daemon=False)
    thread.start()
    return thread
