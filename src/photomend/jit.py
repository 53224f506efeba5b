"""Importing numba quickly: its start-up without the 0.4 s probe of ``scipy.linalg``.

When numba loads its first kernel (compiled or from the cache), it imports
``numba.np.arraymath``, whose import checks that a BLAS is available by importing
``scipy.linalg.cython_blas``. That import runs all of ``scipy/linalg/__init__.py``: about 0.4 s
of a 2-core machine, on every fresh process that fills a hole with ``patchmatch``, though
photomend's kernels call no BLAS. :func:`import_numba` answers that probe with a placeholder
module when SciPy's ``cython_blas`` extension is installed (so the answer, "a BLAS is available",
is the true one), and takes the placeholder away again right after: a kernel that does use BLAS
still imports the real module when it is compiled or first called. Numba's check that SciPy's
BLAS integer width matches its own still runs (it reads ``scipy.__config__``, not the module).

Call it before the first kernel is loaded; it is cheap once done and safe from any thread.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from pathlib import Path

_PROBE = "scipy.linalg.cython_blas"
_LOCK = threading.Lock()

#: Held while a ``parallel=True`` kernel runs, so that one runs at a time in the process.
#: Numba's workqueue threading layer (its fallback where no OpenMP runtime is installed) aborts
#: the process when two threads launch parallel kernels at once (the CLI's warm-up thread and
#: its fill; the server's threads); on 2 cores each kernel uses them all anyway.
PARALLEL_LOCK = threading.Lock()


def _has_cython_blas() -> bool:
    """True when SciPy's ``linalg/cython_blas`` extension is installed (without importing
    ``scipy.linalg``)."""
    try:
        spec = importlib.util.find_spec("scipy")
    except (ImportError, ValueError):
        return False
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        if any(Path(folder, "linalg").glob("cython_blas.*")):
            return True
    return False


def import_numba() -> None:
    """Import numba and its array-math registry, skipping the ``scipy.linalg`` import of the
    BLAS probe (see the module docstring).

    >>> import_numba()
    >>> import sys; "numba.np.arraymath" in sys.modules
    True
    """
    if "numba.np.arraymath" in sys.modules:
        return
    with _LOCK:
        if "numba.np.arraymath" in sys.modules:
            return
        import numba  # (first: the registry below needs it)

        placeholder = None
        if _PROBE not in sys.modules and _has_cython_blas():
            placeholder = types.ModuleType(_PROBE)
            sys.modules[_PROBE] = placeholder
        try:
            import numba.np.arraymath  # noqa: F401
        finally:
            if placeholder is not None and sys.modules.get(_PROBE) is placeholder:
                del sys.modules[_PROBE]


def is_cached(kernel) -> bool:
    """Whether numba's on-disk cache holds ``kernel`` (an ``@njit(cache=True)`` function)
    compiled from its current source: loading it then costs a fraction of a second, compiling
    it can cost seconds. True where numba's internals cannot tell (as if it were).

    >>> import_numba()
    >>> from photomend.ops import patchmatch_kernels as k
    >>> isinstance(is_cached(k.random_init), bool)
    True
    """
    try:
        # (the index lists the compiled signatures; it reads as empty for another source)
        return bool(kernel._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001  (numba's private API moved, or an unreadable file)
        return True
