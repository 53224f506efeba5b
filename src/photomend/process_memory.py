"""How photomend's own processes (the ``photomend`` command, batch workers, server job
processes) manage memory: freed image buffers are kept for reuse, and no transparent huge pages.

A photo's work allocates and frees many buffers of 1-150 MB (a 12 MP restore, when this was
written: ~130 blocks of 4 MB or more, 7 GB in all, for a peak of 2.8 GB; 2.0 GB since). With glibc's defaults each block above the
*mmap threshold* (at most 32 MB) is a fresh ``mmap``, so every one of them is faulted in again
(the kernel zeroes each page on first touch) and unmapped when freed; and NumPy asks for
transparent huge pages on big arrays, whose faults can stall in the kernel's compaction. Measured
on a 2-core machine (``benchmarks/bench_cli.py``; same runs, alternating): a 12 MP restore took
9.1-13.9 s through the command line and 10.8-11.3 s warm with the defaults, 7.8-9.6 s and
7.3-7.6 s with this policy, its system time 3-6 s -> 1.5-1.8 s (warm: 3.3 s -> 0.1 s); a 4K
removal was the same within noise from a shell (faster warm: 2.6-2.9 s vs 3.1-3.2 s). A worker
filling 8 photos of 1-12 MP in turn stays at its peak (616 MB; glibc's defaults: a 637 MB peak,
~230 MB between photos), with no growth from fragmentation, and takes 6.6 s instead of 8.3 s.

So, once at the start of such a process: ``M_MMAP_MAX = 0`` (every block from the heap, where a
freed one is reused), a trim threshold of 2 GB (free memory stays with the process instead of
going back to the kernel and being faulted in again), and NumPy no longer advises huge pages
(the kernel may still give them where they cost no compaction, under THP ``always``). Peak
memory is the same; the process holds on to its peak until it ends. A library caller keeps its
own process's settings (the same policy from the environment: ``MALLOC_MMAP_MAX_=0
MALLOC_TRIM_THRESHOLD_=2147483647 NUMPY_MADVISE_HUGEPAGE=0``).
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # (glibc's malloc.h)
M_MMAP_MAX = -4

#: Free memory at the top of the heap kept for reuse rather than returned to the kernel (the
#: largest value mallopt takes).
TRIM_THRESHOLD = 2**31 - 1


def hold_freed_memory() -> bool:
    """Apply the policy of the module docstring to this process; True when applied. Does
    nothing off Linux/glibc, or where the user tunes malloc already (``GLIBC_TUNABLES`` or
    ``MALLOC_*_`` variables).

    >>> hold_freed_memory()  # doctest: +SKIP
    True

    (Skipped in the tests: the test process would keep the policy.)
    """
    if not sys.platform.startswith("linux") or "GLIBC_TUNABLES" in os.environ or any(
            name.startswith("MALLOC_") for name in os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # (the C library the interpreter runs on)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # (mallopt answers 1 when it took the value; musl's stub answers 0.)
    if not (mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return False
    _no_huge_page_advice()
    return True


def _no_huge_page_advice() -> None:
    """NumPy's huge-page advice off: read from the environment when NumPy is imported (the
    command imports it only for a job, after this), switched at run time when it already is."""
    if "numpy" not in sys.modules:
        os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"
        return
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # (NumPy before 2.0 kept it in numpy.core)
        try:
            from numpy.core.multiarray import _set_madvise_hugepage
        except ImportError:
            return
    _set_madvise_hugepage(False)
