"""Reusing freed image buffers in a fresh ``photomend`` process (glibc's malloc).

glibc serves a block above its *mmap threshold* with a fresh ``mmap`` and unmaps it when freed.
The threshold starts at 128 KB and only rises each time such a block is freed, so a fresh
process maps, faults in (the kernel zeroes every 4 KB page on first touch) and unmaps again most
of the 1-32 MB buffers of a fill or a restore — crops, masks, pyramid levels — while a process
that has done the work once reuses them from its heap. On a 4K removal that is ~30,000 page
faults and 0.2-0.5 s of the CLI's overhead (``benchmarks/bench_cli.py``). Setting the thresholds
once at start-up gives the fresh process the reuse of a warm one; peak memory is unchanged
(the buffers are freed as before, into the heap instead of back to the kernel).
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # (glibc's malloc.h)
M_MMAP_THRESHOLD = -3

#: Blocks up to this size come from the heap (glibc's largest allowed value on 64-bit).
MMAP_THRESHOLD = 32 * 2**20
#: Free memory at the top of the heap kept for reuse rather than returned to the kernel.
TRIM_THRESHOLD = 256 * 2**20


def keep_freed_buffers() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring) for this process; True
    when set. Does nothing off glibc, or where the user tunes malloc already (``GLIBC_TUNABLES``
    or ``MALLOC_*_`` variables).

    >>> keep_freed_buffers() in (True, False)
    True
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
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
